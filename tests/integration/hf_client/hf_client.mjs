// Drives the real @huggingface/hub client against mirrord for hf_endpoint_test.cc.
// Environment: HUB_URL (mirrord's base URL), REPO (a model id with LFS and plain files),
// MANY_REPO (a model id with more files than one tree page), LFS_FILE, GIT_FILE, OUT_DIR.
// Prints one JSON object with what the client saw; downloads land under OUT_DIR.
// Exits non-zero on any client error (its message on stderr).
import { listFiles, fileDownloadInfo, downloadFile, snapshotDownload } from "@huggingface/hub";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const hubUrl = env("HUB_URL");
const repo = { type: "model", name: env("REPO") };
const manyRepo = { type: "model", name: env("MANY_REPO") };
const outDir = env("OUT_DIR");

// Counts the tree pages listFiles fetches (it follows Link: rel="next").
let treeRequests = 0;
const countingFetch = (url, init) => {
  if (String(url).includes("/tree/")) treeRequests++;
  return fetch(url, init);
};

const result = {};

result.files = [];
for await (const e of listFiles({ repo, recursive: true, hubUrl, fetch: countingFetch })) {
  result.files.push({ type: e.type, path: e.path, size: e.size, oid: e.oid, lfs: e.lfs ?? null });
}
treeRequests = 0;
let many = 0;
for await (const e of listFiles({ repo: manyRepo, recursive: true, hubUrl, fetch: countingFetch })) {
  if (e.type === "file") many++;
}
result.manyFiles = many;
result.manyPages = treeRequests;

result.info = {};
await mkdir(join(outDir, "download"), { recursive: true });
for (const path of [env("LFS_FILE"), env("GIT_FILE")]) {
  const info = await fileDownloadInfo({ repo, path, hubUrl });
  result.info[path] = info && { size: info.size, etag: info.etag, xet: info.xet ?? null };
  const blob = await downloadFile({ repo, path, hubUrl });
  const bytes = Buffer.from(await blob.arrayBuffer());
  await writeFile(join(outDir, "download", path.replaceAll("/", "_")), bytes);
}
result.missing = await fileDownloadInfo({ repo, path: "does/not/exist", hubUrl });

result.snapshot = await snapshotDownload({ repo, hubUrl, cacheDir: join(outDir, "cache") });

process.stdout.write(JSON.stringify(result) + "\n");
