// The build stage end to end with the real tools: a model pushed with git-lfs to the test
// upstream is mirrored, built into an image by a build job (queued by the sync and by POST
// /api/v1/builds/NAME, followed through GET .../runs/ID and `mirrorctl build`), and pulled from
// mirrord's read-only registry with `skopeo inspect` / `skopeo copy` (plain HTTP). `umoci unpack`
// of the copy gives the upstream's weights byte for byte, and the image's entrypoint (a static test
// program, the stand-in for the inference binary) runs with chroot in the unpacked rootfs.
// Containers cannot be started on these machines, hence chroot.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "org/model";

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// What the static stub prints for these files (its FNV-1a over their bytes in order).
std::string StubAnswer(const std::vector<const std::string*>& contents) {
  uint64_t hash = 1469598103934665603ull, bytes = 0;
  for (const std::string* c : contents) {
    for (unsigned char b : *c) hash = (hash ^ b) * 1099511628211ull;
    bytes += c->size();
  }
  char line[128];
  std::snprintf(line, sizeof(line), "model ok: %zu files, %llu bytes, fnv1a %016llx\n",
                contents.size(), static_cast<unsigned long long>(bytes),
                static_cast<unsigned long long>(hash));
  return line;
}

fs::path StubBinary() {
  return fs::path(MIRRORD_BINARY_DIR) / "tests/fixtures/model_stub/model_stub";
}

class BuildRegistry : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("build-registry-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    shard1_ = RandomBytes(300 << 10, 1);
    shard2_ = RandomBytes((100 << 10) + 7, 2);
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.LfsTrack("*.safetensors"));
    ASSERT_OK(work.WriteFile("config.json", "{\"layers\": 2}\n"));
    ASSERT_OK(work.WriteFile("model-00001-of-00002.safetensors", shard1_));
    ASSERT_OK(work.WriteFile("model-00002-of-00002.safetensors", shard2_));
    ASSERT_OK_AND_ASSIGN(commit_, work.Commit("model"));
    ASSERT_OK(upstream_->CreateBareRepo(kRepo).status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor(kRepo), {"refs/heads/main:refs/heads/main"}));
    work_.emplace(std::move(work));

    ASSERT_TRUE(fs::exists(StubBinary())) << StubBinary();
    ASSERT_OK_AND_ASSIGN(std::string stub, ReadFileToString(StubBinary()));
    MirrordOptions o;
    o.extra_toml =
        "[sync]\nmaintenance = false\n"
        "[[repos]]\nname = \"org/model\"\nurl = \"" +
        upstream_->UrlFor(kRepo) +
        "\"\n"
        "[[builds]]\nname = \"lab/model\"\nrepo = \"org/model\"\n"
        "entrypoint = [\"/usr/local/bin/serve\"]\n"
        "cmd = [\"/models/org/model\", \"model-00001-of-00002.safetensors\", "
        "\"model-00002-of-00002.safetensors\"]\n"
        "ports = [\"8000\"]\nrequire_cuda = \">=12.1\"\n"
        "labels = { team = \"vision\" }\n"
        "[[builds.files]]\nsource = \"" +
        StubBinary().string() +
        "\"\n"
        "dest = \"/usr/local/bin/serve\"\nmode = \"0755\"\n"
        "sha256 = \"" +
        Sha256Hex(stub) + "\"\n";
    extra_toml_ = o.extra_toml;
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", std::string(kRepo)}));
    ASSERT_TRUE(sync.ok()) << sync.Describe() << "\n" << mirrord_->Logs();
  }

  Result<HttpReply> Call(std::string method, const std::string& path,
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpCall call;
    call.method = std::move(method);
    call.headers = std::move(headers);
    return HttpFetch(mirrord_->BaseUrl() + path, call);
  }

  // Queues a build of lab/model (POST /api/v1/builds/lab/model), waits for its run and
  // returns {"commit", "image": {"digest"}, "model": {"digest"}} of the succeeded run.
  json::object Build() {
    Result<BuildRunView> run = BuildAndWait(*mirrord_, "lab/model");
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    if (!run.ok()) return {};
    EXPECT_EQ(run->state, "succeeded") << run->error << "\n" << mirrord_->Logs();
    json::object image{{"digest", run->image_digest}};
    // The Docker schema 2 twin's digest is what the images API lists beside the OCI one.
    auto token = mirrord_->AdminToken();
    Result<HttpReply> listed = Call("GET", "/api/v1/images/lab/model",
                                    {{"Authorization", "Bearer " + token.value_or("")}});
    EXPECT_TRUE(listed.ok() && listed->status == 200);
    if (listed.ok() && listed->status == 200) {
      const json::value answer = json::parse(listed->body);
      for (const json::value& entry : answer.at("images").as_array()) {
        for (const json::value& tag : entry.at("tags").as_array()) {
          const json::object& t = tag.as_object();
          if (t.at("digest") == json::value(run->image_digest) && t.contains("docker_digest") &&
              !t.at("docker_digest").as_string().empty()) {
            image["docker_digest"] = t.at("docker_digest");
          }
        }
      }
    }
    return json::object{{"commit", run->commit},
                        {"image", std::move(image)},
                        {"model", json::object{{"digest", run->model_digest}}}};
  }

  std::string Registry() const { return "127.0.0.1:" + std::to_string(mirrord_->port()); }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::optional<WorkRepo> work_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string shard1_, shard2_, commit_;
  std::string extra_toml_;  // the daemon's [[repos]] and [[builds]]
};

TEST_F(BuildRegistry, SkopeoCopyUmociUnpackAndRunTheEntrypoint) {
  json::object built = Build();
  ASSERT_EQ(built["commit"].as_string(), commit_);
  std::string digest(built["image"].as_object()["digest"].as_string());
  upstream_->Stop();  // everything below comes from mirrord alone

  ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                   "docker://" + Registry() + "/lab/model:main"}));
  ASSERT_TRUE(inspect.ok()) << inspect.Describe() << "\n" << mirrord_->Logs();
  json::object info = json::parse(inspect.stdout_text).as_object();
  EXPECT_EQ(info["Digest"].as_string(), digest);
  EXPECT_EQ(info["Labels"].as_object()["team"].as_string(), "vision");
  // binary, preflight, small files, preflight manifest, two shards
  EXPECT_EQ(info["Layers"].as_array().size(), 6u);

  fs::path layout = dir_->path() / "layout";
  ASSERT_OK_AND_ASSIGN(ProcessResult copy,
                       RunProcess({"skopeo", "copy", "--src-tls-verify=false",
                                   "docker://" + Registry() + "/lab/model:" + commit_,
                                   "oci:" + layout.string() + ":pulled"}));
  ASSERT_TRUE(copy.ok()) << copy.Describe() << "\n" << mirrord_->Logs();
  fs::path bundle = dir_->path() / "bundle";
  ASSERT_OK_AND_ASSIGN(
      ProcessResult unpack,
      RunProcess({"umoci", "unpack", "--image", layout.string() + ":pulled", bundle.string()}));
  ASSERT_TRUE(unpack.ok()) << unpack.Describe();
  fs::path rootfs = bundle / "rootfs";
  ASSERT_OK_AND_ASSIGN(
      std::string got1,
      ReadFileToString(rootfs / "models/org/model/model-00001-of-00002.safetensors"));
  ASSERT_OK_AND_ASSIGN(
      std::string got2,
      ReadFileToString(rootfs / "models/org/model/model-00002-of-00002.safetensors"));
  EXPECT_TRUE(got1 == shard1_);
  EXPECT_TRUE(got2 == shard2_);

  if (::geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  // The image's entrypoint + cmd, as a runtime would start them.
  ASSERT_OK_AND_ASSIGN(
      ProcessResult run,
      RunProcess({"chroot", rootfs.string(), "/usr/local/bin/serve", "/models/org/model",
                  "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  ASSERT_TRUE(run.ok()) << run.Describe();
  EXPECT_EQ(run.stdout_text, StubAnswer({&shard1_, &shard2_}));

#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the preflight bundle of a sanitizer build needs /proc, which chroot lacks";
#endif
  // The image's own entrypoint, as the runtime starts it (umoci wrote the runtime config):
  // the preflight first. Without any NVIDIA library in the image it says so and stops.
  ASSERT_OK_AND_ASSIGN(std::string runtime_config, ReadFileToString(bundle / "config.json"));
  json::object process = json::parse(runtime_config).as_object()["process"].as_object();
  std::vector<std::string> argv = {"chroot", rootfs.string()};
  for (const json::value& a : process["args"].as_array()) argv.emplace_back(a.as_string());
  ASSERT_EQ(argv[2], "/.mirrord/preflight/lib/ld-linux-x86-64.so.2");
  ProcessOptions in_image;
  in_image.inherit_env = false;
  for (const json::value& e : process["env"].as_array()) {
    std::string kv(e.as_string());
    in_image.env[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  ASSERT_OK_AND_ASSIGN(ProcessResult no_gpu, RunProcess(argv, in_image));
  EXPECT_EQ(no_gpu.exit_code, 70) << no_gpu.Describe();
  EXPECT_NE(no_gpu.stderr_text.find("no NVIDIA driver in this container"), std::string::npos)
      << no_gpu.stderr_text;
  EXPECT_EQ(no_gpu.stdout_text, "");

  // With the driver's libraries where the NVIDIA runtime puts them (our fakes stand in) and
  // a GPU large enough, every check passes and the model server runs in its place.
  fs::path libs = rootfs / "usr/lib/x86_64-linux-gnu";
  ASSERT_OK(CreateDirectories(libs));
  for (const char* lib : {"libnvidia-ml.so.1", "libcuda.so.1"}) {
    fs::copy_file(fs::path(MIRRORD_BINARY_DIR) / "tests/unit/preflight/fake_nvidia" / lib,
                  libs / lib, fs::copy_options::overwrite_existing);
  }
  in_image.env["FAKE_NVML_GPUS"] = "NVIDIA H100 80GB HBM3:81559:80000";
  in_image.env["FAKE_CUDA_VERSION"] = "12040";
  ASSERT_OK_AND_ASSIGN(ProcessResult gpu, RunProcess(argv, in_image));
  ASSERT_TRUE(gpu.ok()) << gpu.Describe();
  EXPECT_EQ(gpu.stdout_text, StubAnswer({&shard1_, &shard2_}));
  EXPECT_NE(gpu.stderr_text.find("ok: 2 weight file(s)"), std::string::npos) << gpu.stderr_text;

  // A byte flipped in a shard of the unpacked image: the preflight refuses to start it.
  {
    std::fstream f(rootfs / "models/org/model/model-00002-of-00002.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.put(static_cast<char>(shard2_[0] ^ 0x20));
  }
  ASSERT_OK_AND_ASSIGN(ProcessResult corrupt, RunProcess(argv, in_image));
  EXPECT_EQ(corrupt.exit_code, 75) << corrupt.Describe();
  EXPECT_EQ(corrupt.stdout_text, "");
}

// Export for an air-gapped host: `mirrorctl image export` writes an OCI archive that skopeo
// reads back with the digests the registry serves, that umoci unpacks to the upstream's
// weights, and whose Docker-style manifest.json `docker load` reads.
TEST_F(BuildRegistry, ImageExportIsAnOciArchiveWithTheServedDigests) {
  json::object built = Build();
  std::string digest(built["image"].as_object()["digest"].as_string());
  upstream_->Stop();  // everything below comes from mirrord alone
  fs::path out_dir = dir_->path() / "export";
  fs::create_directories(out_dir);
  fs::path archive = out_dir / "model.tar";

  ASSERT_OK_AND_ASSIGN(
      ProcessResult exported,
      mirrord_->Mirrorctl({"--json", "image", "export", "lab/model:main", "-o", archive.string()}));
  ASSERT_TRUE(exported.ok()) << exported.Describe() << "\n" << mirrord_->Logs();
  json::object summary = json::parse(exported.stdout_text).as_object();
  EXPECT_EQ(summary["digest"].as_string(), digest);
  EXPECT_EQ(summary["name"].as_string(), "lab/model");
  EXPECT_EQ(summary["tag"].as_string(), "main");
  EXPECT_EQ(summary["size"].to_number<uint64_t>(), fs::file_size(archive));
  // Only the archive: the temporary file was renamed into place.
  EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);

  // skopeo reads the archive: the manifest is byte for byte the one the registry serves.
  ASSERT_OK_AND_ASSIGN(ProcessResult served,
                       RunProcess({"skopeo", "inspect", "--raw", "--tls-verify=false",
                                   "docker://" + Registry() + "/lab/model:main"}));
  ASSERT_TRUE(served.ok()) << served.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult raw, RunProcess({"skopeo", "inspect", "--raw",
                                                      "oci-archive:" + archive.string()}));
  ASSERT_TRUE(raw.ok()) << raw.Describe();
  EXPECT_EQ(raw.stdout_text, served.stdout_text);
  EXPECT_EQ("sha256:" + Sha256Hex(raw.stdout_text), digest);
  fs::path copied = dir_->path() / "copied";
  ASSERT_OK_AND_ASSIGN(
      ProcessResult copy,
      RunProcess({"skopeo", "copy", "oci-archive:" + archive.string(), "dir:" + copied.string()}));
  ASSERT_TRUE(copy.ok()) << copy.Describe();
  ASSERT_OK_AND_ASSIGN(std::string manifest_copy, ReadFileToString(copied / "manifest.json"));
  EXPECT_EQ("sha256:" + Sha256Hex(manifest_copy), digest);
  json::object manifest = json::parse(manifest_copy).as_object();
  for (const json::value& layer : manifest["layers"].as_array()) {
    std::string hex(layer.as_object().at("digest").as_string().subview().substr(7));
    ASSERT_OK_AND_ASSIGN(std::string sum, Sha256OfFile(copied / hex));
    EXPECT_EQ(sum, hex);
  }

  // The layout itself: GNU tar lists it, umoci unpacks the tag to the upstream's weights,
  // and manifest.json names the config and layers as docker load wants them.
  fs::path layout = dir_->path() / "layout";
  fs::create_directories(layout);
  ASSERT_OK_AND_ASSIGN(std::string listing, RunProcessOk({"tar", "-tf", archive.string()}));
  EXPECT_THAT(listing, HasSubstr("oci-layout\nindex.json\nmanifest.json\nblobs/\n"));
  ASSERT_OK(RunProcessOk({"tar", "-xf", archive.string(), "-C", layout.string()}).status());
  fs::path bundle = dir_->path() / "bundle";
  ASSERT_OK_AND_ASSIGN(
      ProcessResult unpack,
      RunProcess({"umoci", "unpack", "--image", layout.string() + ":main", bundle.string()}));
  ASSERT_TRUE(unpack.ok()) << unpack.Describe();
  ASSERT_OK_AND_ASSIGN(std::string got1,
                       ReadFileToString(bundle / "rootfs/models/org/model/"
                                                 "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(got1 == shard1_);
  ASSERT_OK_AND_ASSIGN(std::string docker_json, ReadFileToString(layout / "manifest.json"));
  json::object docker = json::parse(docker_json).as_array().at(0).as_object();
  EXPECT_EQ(docker["RepoTags"].as_array().at(0).as_string(), "lab/model:main");
  EXPECT_EQ(docker["Config"].as_string(),
            "blobs/sha256/" +
                std::string(manifest["config"].as_object().at("digest").as_string()).substr(7));
  ASSERT_EQ(docker["Layers"].as_array().size(), manifest["layers"].as_array().size());
  for (const json::value& l : docker["Layers"].as_array()) {
    EXPECT_TRUE(fs::exists(layout / std::string(l.as_string()))) << l;
  }

  // -o - streams the same bytes to stdout (and --json, which would mix with them, is refused).
  ASSERT_OK_AND_ASSIGN(ProcessResult piped,
                       mirrord_->Mirrorctl({"image", "export", "lab/model:main", "-o", "-"}));
  ASSERT_TRUE(piped.ok()) << piped.Describe();
  ASSERT_OK_AND_ASSIGN(std::string written, ReadFileToString(archive));
  EXPECT_TRUE(piped.stdout_text == written);
  ASSERT_OK_AND_ASSIGN(ProcessResult mixed, mirrord_->Mirrorctl({"--json", "image", "export",
                                                                 "lab/model:main", "-o", "-"}));
  EXPECT_EQ(mixed.exit_code, 2) << mixed.Describe();

  // The endpoint: admin only, sized up front, 404 for an unknown tag (no file left behind).
  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, Call("HEAD", "/api/v1/images/lab/model:main/archive"));
  EXPECT_EQ(anonymous.status, 401);
  ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
  ASSERT_OK_AND_ASSIGN(HttpReply head, Call("HEAD", "/api/v1/images/lab/model:main/archive",
                                            {{"Authorization", "Bearer " + token}}));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(fs::file_size(archive)));
  EXPECT_EQ(head.Header("Mirrord-Image-Digest"), digest);
  ASSERT_OK_AND_ASSIGN(ProcessResult unknown,
                       mirrord_->Mirrorctl({"image", "export", "lab/model:nope", "-o",
                                            (out_dir / "nope.tar").string()}));
  EXPECT_EQ(unknown.exit_code, 4) << unknown.Describe();
  EXPECT_FALSE(fs::exists(out_dir / "nope.tar"));
  EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
  ASSERT_OK_AND_ASSIGN(ProcessResult no_tag,
                       mirrord_->Mirrorctl({"image", "export", "lab/model", "-o", "x.tar"}));
  EXPECT_EQ(no_tag.exit_code, 2) << no_tag.Describe();

  // A blob gone from the store (a disk fault): refused before the first byte, nothing written.
  const std::string config_hex =
      std::string(manifest["config"].as_object().at("digest").as_string()).substr(7);
  ASSERT_TRUE(fs::remove(mirrord_->store_dir() / "oci" / "blobs" / "sha256" / config_hex));
  ASSERT_OK_AND_ASSIGN(ProcessResult broken,
                       mirrord_->Mirrorctl({"image", "export", "lab/model:main", "-o",
                                            (out_dir / "broken.tar").string()}));
  EXPECT_EQ(broken.exit_code, 1) << broken.Describe();
  EXPECT_THAT(broken.stderr_text, HasSubstr(config_hex));
  EXPECT_FALSE(fs::exists(out_dir / "broken.tar"));
  EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
}

// Backup and restore (README, "Backup and restore"): `mirrorctl backup DIR` while the node
// serves, a sync published after it, then a NEW node started on a copy of DIR as its storage
// root, with the upstream gone: it serves the refs of the backup's moment, the LFS objects
// (`git lfs pull`) and the same image digests.
TEST_F(BuildRegistry, BackupRestoresOntoANewNode) {
  json::object built = Build();
  std::string digest(built["image"].as_object()["digest"].as_string());
  ASSERT_OK_AND_ASSIGN(std::string refs_at_backup, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));

  fs::path backup = dir_->path() / "backups" / "one";
  ASSERT_OK_AND_ASSIGN(ProcessResult done,
                       mirrord_->Mirrorctl({"--json", "backup", backup.string()}));
  ASSERT_TRUE(done.ok()) << done.Describe() << "\n" << mirrord_->Logs();
  json::object summary = json::parse(done.stdout_text).as_object();
  EXPECT_EQ(summary["repos"].to_number<int64_t>(), 1);
  EXPECT_GE(summary["lfs_objects"].to_number<int64_t>(), 2);
  EXPECT_GE(summary["oci_blobs"].to_number<int64_t>(), 3);
  EXPECT_TRUE(fs::exists(backup / "mirrord-backup.json"));
  // Not over an earlier backup.
  ASSERT_OK_AND_ASSIGN(ProcessResult again, mirrord_->Mirrorctl({"backup", backup.string()}));
  EXPECT_EQ(again.exit_code, 1) << again.Describe();
  EXPECT_THAT(again.stderr_text, HasSubstr("not empty"));

  // The upstream moves on and the live node follows; the backup keeps its moment.
  ASSERT_OK(work_->WriteFile("extra.safetensors", RandomBytes(4096, 9)));
  ASSERT_OK_AND_ASSIGN(std::string next, work_->Commit("more"));
  ASSERT_OK(work_->PushWithLfs(upstream_->UrlFor(kRepo), {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", std::string(kRepo)}));
  ASSERT_TRUE(sync.ok()) << sync.Describe();
  ASSERT_OK_AND_ASSIGN(std::string live_refs, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_THAT(live_refs, HasSubstr(next));
  upstream_->Stop();
  ASSERT_OK(mirrord_->Terminate().status());

  // A new node: its own store, a copy of the backup (no hard links into the old one).
  fs::path root = dir_->path() / "node2" / "store";
  fs::create_directories(root.parent_path());
  ASSERT_OK(RunProcessOk({"cp", "-a", backup.string(), root.string()}).status());
  MirrordOptions o;
  o.work_dir = dir_->path() / "node2";
  o.store_dir = root;
  o.extra_toml = extra_toml_;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> restored, MirrordProcess::Start(o));

  ASSERT_OK_AND_ASSIGN(std::string served_refs, Git({"ls-remote", restored->UrlFor(kRepo)}));
  EXPECT_EQ(served_refs, refs_at_backup);
  EXPECT_THAT(served_refs, Not(HasSubstr(next)));
  fs::path clone = dir_->path() / "clone";
  GitOptions no_smudge;
  no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK(
      Git({"clone", "--quiet", restored->UrlFor(kRepo), clone.string()}, {}, no_smudge).status());
  ASSERT_OK(Git({"lfs", "pull"}, clone).status());
  ASSERT_OK_AND_ASSIGN(std::string got1,
                       ReadFileToString(clone / "model-00001-of-00002.safetensors"));
  ASSERT_OK_AND_ASSIGN(std::string got2,
                       ReadFileToString(clone / "model-00002-of-00002.safetensors"));
  EXPECT_TRUE(got1 == shard1_);
  EXPECT_TRUE(got2 == shard2_);

  const std::string registry = "127.0.0.1:" + std::to_string(restored->port());
  ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                   "docker://" + registry + "/lab/model:main"}));
  ASSERT_TRUE(inspect.ok()) << inspect.Describe() << "\n" << restored->Logs();
  EXPECT_EQ(json::parse(inspect.stdout_text).as_object()["Digest"].as_string(), digest);
  // Every blob, generated layers included, comes out of the restored stores.
  ASSERT_OK_AND_ASSIGN(ProcessResult copy,
                       RunProcess({"skopeo", "copy", "--src-tls-verify=false",
                                   "docker://" + registry + "/lab/model:main",
                                   "dir:" + (dir_->path() / "restored-copy").string()}));
  ASSERT_TRUE(copy.ok()) << copy.Describe() << "\n" << restored->Logs();
  ASSERT_OK_AND_ASSIGN(std::string manifest,
                       ReadFileToString(dir_->path() / "restored-copy" / "manifest.json"));
  EXPECT_EQ("sha256:" + Sha256Hex(manifest), digest);
}

TEST_F(BuildRegistry, RegistryProtocol) {
  json::object built = Build();
  std::string digest(built["image"].as_object()["digest"].as_string());
  std::string model_digest(built["model"].as_object()["digest"].as_string());

  ASSERT_OK_AND_ASSIGN(HttpReply base, Call("GET", "/v2/"));
  EXPECT_EQ(base.status, 200);
  EXPECT_EQ(base.Header("Docker-Distribution-API-Version"), "registry/2.0");

  // Manifests by tag and digest, GET and HEAD, exact bytes.
  ASSERT_OK_AND_ASSIGN(HttpReply by_tag, Call("GET", "/v2/lab/model/manifests/main"));
  ASSERT_EQ(by_tag.status, 200);
  EXPECT_EQ(by_tag.Header("Docker-Content-Digest"), digest);
  EXPECT_EQ(by_tag.Header("Content-Type"), "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ("sha256:" + Sha256Hex(by_tag.body), digest);
  ASSERT_OK_AND_ASSIGN(HttpReply by_digest, Call("GET", "/v2/lab/model/manifests/" + digest));
  EXPECT_EQ(by_digest.body, by_tag.body);
  ASSERT_OK_AND_ASSIGN(HttpReply head, Call("HEAD", "/v2/lab/model/manifests/main"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(by_tag.body.size()));

  // The model artifact: its weight layers are the LFS objects, served raw.
  ASSERT_OK_AND_ASSIGN(HttpReply model, Call("GET", "/v2/lab/model/manifests/main-model"));
  ASSERT_EQ(model.status, 200);
  EXPECT_EQ(model.Header("Docker-Content-Digest"), model_digest);
  EXPECT_THAT(model.body, HasSubstr("application/vnd.cncf.model.manifest.v1+json"));
  ASSERT_OK_AND_ASSIGN(HttpReply raw,
                       Call("GET", "/v2/lab/model/blobs/sha256:" + Sha256Hex(shard2_)));
  EXPECT_EQ(raw.status, 200);
  EXPECT_TRUE(raw.body == shard2_);

  // A generated tar layer with a Range: the same bytes as that slice of the whole layer.
  json::object manifest = json::parse(by_tag.body).as_object();
  const json::array& layers = manifest["layers"].as_array();
  std::string layer(layers.back().as_object().at("digest").as_string());
  ASSERT_OK_AND_ASSIGN(HttpReply whole, Call("GET", "/v2/lab/model/blobs/" + layer));
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ("sha256:" + Sha256Hex(whole.body), layer);
  ASSERT_OK_AND_ASSIGN(HttpReply part,
                       Call("GET", "/v2/lab/model/blobs/" + layer, {{"Range", "bytes=500-70000"}}));
  EXPECT_EQ(part.status, 206);
  EXPECT_TRUE(part.body == whole.body.substr(500, 69501));
  ASSERT_OK_AND_ASSIGN(HttpReply blob_head, Call("HEAD", "/v2/lab/model/blobs/" + layer));
  EXPECT_EQ(blob_head.Header("Content-Length"), std::to_string(whole.body.size()));

  // Tags with pagination, the catalog, referrers.
  ASSERT_OK_AND_ASSIGN(HttpReply tags, Call("GET", "/v2/lab/model/tags/list?n=2"));
  ASSERT_EQ(tags.status, 200);
  json::array page = json::parse(tags.body).as_object()["tags"].as_array();
  ASSERT_EQ(page.size(), 2u);
  std::string last(page.back().as_string());
  EXPECT_EQ(tags.Header("Link"), "</v2/lab/model/tags/list?n=2&last=" + last + ">; rel=\"next\"");
  ASSERT_OK_AND_ASSIGN(HttpReply rest, Call("GET", "/v2/lab/model/tags/list?n=10&last=" + last));
  EXPECT_EQ(json::parse(rest.body).as_object()["tags"].as_array().size(), 2u);  // 4 tags in all
  EXPECT_FALSE(rest.Header("Link").has_value());
  ASSERT_OK_AND_ASSIGN(HttpReply catalog, Call("GET", "/v2/_catalog"));
  EXPECT_EQ(catalog.body, "{\"repositories\":[\"lab/model\"]}");
  ASSERT_OK_AND_ASSIGN(HttpReply referrers, Call("GET", "/v2/lab/model/referrers/" + digest));
  EXPECT_EQ(referrers.status, 200);
  EXPECT_THAT(referrers.body, HasSubstr("\"manifests\":[]"));

  // Errors, with the spec's codes.
  struct Case {
    std::string method, path;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"GET", "/v2/lab/model/manifests/nope", 404, "MANIFEST_UNKNOWN"},
      {"GET", "/v2/lab/other/tags/list", 404, "NAME_UNKNOWN"},
      {"GET", "/v2/Bad_Name/manifests/main", 400, "NAME_INVALID"},
      {"GET", "/v2/lab/model/blobs/sha256:xyz", 400, "DIGEST_INVALID"},
      // An LFS object the name does not reference is not served under it.
      {"GET", "/v2/lab/model/blobs/sha256:" + std::string(64, 'a'), 404, "BLOB_UNKNOWN"},
      {"GET", "/v2/lab/model/tags/list?n=x", 400, "PAGINATION_NUMBER_INVALID"},
      {"POST", "/v2/lab/model/blobs/uploads/", 405, "UNSUPPORTED"},
      {"PUT", "/v2/lab/model/manifests/main", 405, "UNSUPPORTED"},
      {"DELETE", "/v2/lab/model/manifests/" + digest, 405, "UNSUPPORTED"},
      {"PATCH", "/v2/lab/model/blobs/uploads/1", 405, "UNSUPPORTED"},
  };
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Call(c.method, c.path));
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr("\"code\":\"" + c.code + "\"")) << c.method << " " << c.path;
  }
  // The push is still the same image: nothing changed.
  ASSERT_OK_AND_ASSIGN(HttpReply after, Call("GET", "/v2/lab/model/manifests/main"));
  EXPECT_EQ(after.Header("Docker-Content-Digest"), digest);
}

TEST_F(BuildRegistry, BuildEndpointNeedsTheTokenAndAKnownRecipe) {
  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, Call("POST", "/api/v1/builds/lab/model"));
  EXPECT_EQ(anonymous.status, 401);
  ASSERT_OK_AND_ASSIGN(HttpReply wrong, Call("POST", "/api/v1/builds/lab/model",
                                             {{"Authorization", "Bearer nope"}}));
  EXPECT_EQ(wrong.status, 401);
  ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
  ASSERT_OK_AND_ASSIGN(HttpReply unknown, Call("POST", "/api/v1/builds/lab/unknown",
                                               {{"Authorization", "Bearer " + token}}));
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  ASSERT_OK_AND_ASSIGN(HttpReply bad_ref, Call("POST", "/api/v1/builds/lab/model?ref=refs/heads/x",
                                               {{"Authorization", "Bearer " + token}}));
  EXPECT_EQ(bad_ref.status, 404) << bad_ref.body;
  // Revision expressions and hidden refs are not published refs.
  for (std::string ref : {"HEAD~0", "refs/heads/main~0", "refs/mirrord/staging/refs/heads/main"}) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Call("POST", "/api/v1/builds/lab/model?ref=" + ref,
                                           {{"Authorization", "Bearer " + token}}));
    EXPECT_EQ(r.status, 404) << ref << ": " << r.body;
  }
  ASSERT_OK_AND_ASSIGN(HttpReply main_ref,
                       Call("POST", "/api/v1/builds/lab/model?ref=refs/heads/main",
                            {{"Authorization", "Bearer " + token}}));
  ASSERT_EQ(main_ref.status, 202) << main_ref.body;
  json::object queued = json::parse(main_ref.body).as_object();
  EXPECT_EQ(queued["ref"].as_string(), "refs/heads/main");
  EXPECT_EQ(queued["commit"].as_string(), commit_);
  const int64_t run_id = queued["run_id"].as_int64();
  EXPECT_EQ(main_ref.Header("Location"), "/api/v1/builds/lab/model/runs/" + std::to_string(run_id));
  // The run's status needs the token too, and names only runs of that build.
  ASSERT_OK_AND_ASSIGN(HttpReply status_anonymous,
                       Call("GET", "/api/v1/builds/lab/model/runs/" + std::to_string(run_id)));
  EXPECT_EQ(status_anonymous.status, 401);
  ASSERT_OK_AND_ASSIGN(HttpReply other_build,
                       Call("GET", "/api/v1/builds/lab/unknown/runs/" + std::to_string(run_id),
                            {{"Authorization", "Bearer " + token}}));
  EXPECT_EQ(other_build.status, 404) << other_build.body;
  ASSERT_OK_AND_ASSIGN(BuildRunView done,
                       WaitForBuildEnd(*mirrord_, "lab/model", run_id, std::chrono::seconds(120)));
  EXPECT_EQ(done.state, "succeeded") << done.error;
  EXPECT_EQ(done.commit, commit_);
  EXPECT_EQ(done.phase, "done");
  EXPECT_THAT(done.tags, ::testing::UnorderedElementsAre("main", commit_));
  ASSERT_OK_AND_ASSIGN(HttpReply built, Call("GET", "/v2/lab/model/manifests/main"));
  EXPECT_EQ(built.status, 200);
  EXPECT_EQ(built.Header("Docker-Content-Digest"), done.image_digest);

  // `mirrorctl build` follows a build to the end and prints the served tags with the digest.
  ASSERT_OK_AND_ASSIGN(ProcessResult cli, mirrord_->Mirrorctl({"build", "lab/model"}));
  ASSERT_TRUE(cli.ok()) << cli.Describe();
  EXPECT_THAT(cli.stdout_text, HasSubstr("lab/model:main  " + done.image_digest));
  EXPECT_THAT(cli.stdout_text, HasSubstr("lab/model:" + commit_ + "  " + done.image_digest));
  ASSERT_OK_AND_ASSIGN(ProcessResult cli_bad,
                       mirrord_->Mirrorctl({"build", "lab/model", "--ref", "refs/heads/nope"}));
  EXPECT_EQ(cli_bad.exit_code, 4) << cli_bad.Describe();  // mirrorctl's "no such ..." code
  EXPECT_THAT(cli_bad.stderr_text, HasSubstr("refs/heads/nope"));
}

// A generated tar layer is header bytes + the stored object + padding, sent as pieces
// (memory, sendfile, memory): every Range, those crossing piece boundaries included, gives
// the same bytes as that slice of the whole layer, and the whole layer has its digest.
TEST_F(BuildRegistry, GeneratedLayerRangesAcrossPieceBoundaries) {
  json::object built = Build();
  std::string digest(built["image"].as_object()["digest"].as_string());
  ASSERT_OK_AND_ASSIGN(HttpReply manifest_reply, Call("GET", "/v2/lab/model/manifests/" + digest));
  json::object manifest = json::parse(manifest_reply.body).as_object();
  const json::array& layers = manifest["layers"].as_array();
  for (size_t back : {1u, 2u}) {  // the two weight layers
    const json::object& l = layers[layers.size() - back].as_object();
    std::string layer(l.at("digest").as_string());
    const std::string& shard = back == 1 ? shard2_ : shard1_;
    ASSERT_OK_AND_ASSIGN(HttpReply whole, Call("GET", "/v2/lab/model/blobs/" + layer));
    ASSERT_EQ(whole.status, 200);
    EXPECT_EQ(whole.Header("Content-Length"), std::to_string(whole.body.size()));
    ASSERT_EQ(static_cast<int64_t>(whole.body.size()), l.at("size").as_int64());
    ASSERT_EQ("sha256:" + Sha256Hex(whole.body), layer);
    const size_t n = whole.body.size();
    const size_t begin = whole.body.find(shard.substr(0, 4096));  // header | object
    ASSERT_NE(begin, std::string::npos);
    ASSERT_GT(begin, 0u);
    const size_t end = begin + shard.size();  // object | padding
    ASSERT_LT(end, n);
    struct Slice {
      size_t first, last;  // inclusive
    };
    std::vector<Slice> slices = {
        {0, n - 1},     {begin - 1, begin}, {begin, begin}, {begin - 300, end + 300},
        {end - 1, end}, {end, n - 1},       {0, begin + 5}, {begin + 17, end - 17}};
    for (const Slice& sl : slices) {
      std::string range = "bytes=" + std::to_string(sl.first) + "-" + std::to_string(sl.last);
      ASSERT_OK_AND_ASSIGN(HttpReply part,
                           Call("GET", "/v2/lab/model/blobs/" + layer, {{"Range", range}}));
      EXPECT_EQ(part.status, 206) << range;
      EXPECT_EQ(part.Header("Content-Range"), "bytes " + std::to_string(sl.first) + "-" +
                                                  std::to_string(sl.last) + "/" +
                                                  std::to_string(n));
      EXPECT_TRUE(part.body == whole.body.substr(sl.first, sl.last - sl.first + 1)) << range;
    }
    ASSERT_OK_AND_ASSIGN(HttpReply suffix,
                         Call("GET", "/v2/lab/model/blobs/" + layer, {{"Range", "bytes=-700"}}));
    EXPECT_EQ(suffix.status, 206);
    EXPECT_TRUE(suffix.body == whole.body.substr(n - 700));
    ASSERT_OK_AND_ASSIGN(HttpReply beyond, Call("GET", "/v2/lab/model/blobs/" + layer,
                                                {{"Range", "bytes=" + std::to_string(n) + "-"}}));
    EXPECT_EQ(beyond.status, 416);
  }
}

// Docker schema 2 where a client asks for it (and not for OCI); OCI otherwise. The digest
// header always names the bytes sent.
TEST_F(BuildRegistry, DockerSchema2ForClientsThatAskOnlyForIt) {
  json::object built = Build();
  json::object image = built["image"].as_object();
  std::string oci_digest(image["digest"].as_string());
  ASSERT_TRUE(image.contains("docker_digest")) << json::serialize(built);
  std::string docker_digest(image["docker_digest"].as_string());
  const std::pair<std::string, std::string> docker_only = {
      "Accept", "application/vnd.docker.distribution.manifest.v2+json"};

  ASSERT_OK_AND_ASSIGN(HttpReply docker,
                       Call("GET", "/v2/lab/model/manifests/main", {docker_only}));
  ASSERT_EQ(docker.status, 200);
  EXPECT_EQ(docker.Header("Content-Type"), "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(docker.Header("Docker-Content-Digest"), docker_digest);
  EXPECT_EQ("sha256:" + Sha256Hex(docker.body), docker_digest);
  json::object dm = json::parse(docker.body).as_object();
  EXPECT_EQ(dm["mediaType"].as_string(), "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(dm["config"].as_object()["mediaType"].as_string(),
            "application/vnd.docker.container.image.v1+json");
  for (const json::value& l : dm["layers"].as_array()) {
    EXPECT_EQ(l.as_object().at("mediaType").as_string(),
              "application/vnd.docker.image.rootfs.diff.tar");
  }
  ASSERT_OK_AND_ASSIGN(HttpReply head, Call("HEAD", "/v2/lab/model/manifests/main", {docker_only}));
  EXPECT_EQ(head.Header("Docker-Content-Digest"), docker_digest);
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(docker.body.size()));
  ASSERT_OK_AND_ASSIGN(HttpReply by_digest,
                       Call("GET", "/v2/lab/model/manifests/" + docker_digest));
  EXPECT_EQ(by_digest.status, 200);
  EXPECT_EQ(by_digest.body, docker.body);
  EXPECT_EQ(by_digest.Header("Content-Type"),
            "application/vnd.docker.distribution.manifest.v2+json");

  // Both accepted (one header or several, with q-values), none named, or the model
  // artifact (no twin): OCI.
  std::vector<std::vector<std::pair<std::string, std::string>>> oci_cases = {
      {},
      {{"Accept",
        "application/vnd.oci.image.manifest.v1+json, "
        "application/vnd.docker.distribution.manifest.v2+json;q=0.9"}},
      {docker_only, {"Accept", "application/vnd.oci.image.manifest.v1+json"}},
  };
  for (const auto& headers : oci_cases) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Call("GET", "/v2/lab/model/manifests/main", headers));
    EXPECT_EQ(r.Header("Docker-Content-Digest"), oci_digest) << headers.size();
    EXPECT_EQ(r.Header("Content-Type"), "application/vnd.oci.image.manifest.v1+json");
  }
  ASSERT_OK_AND_ASSIGN(HttpReply model,
                       Call("GET", "/v2/lab/model/manifests/main-model", {docker_only}));
  EXPECT_EQ(model.Header("Docker-Content-Digest"),
            std::string(built["model"].as_object()["digest"].as_string()));

  // skopeo: the raw twin by digest, and a copy in Docker's format whose layers are the
  // same blobs.
  ASSERT_OK_AND_ASSIGN(ProcessResult raw,
                       RunProcess({"skopeo", "inspect", "--raw", "--tls-verify=false",
                                   "docker://" + Registry() + "/lab/model@" + docker_digest}));
  ASSERT_TRUE(raw.ok()) << raw.Describe();
  EXPECT_EQ(raw.stdout_text, docker.body);
  fs::path out = dir_->path() / "v2s2";
  ASSERT_OK_AND_ASSIGN(
      ProcessResult copy,
      RunProcess({"skopeo", "copy", "--src-tls-verify=false", "--format", "v2s2",
                  "docker://" + Registry() + "/lab/model:main", "dir:" + out.string()}));
  ASSERT_TRUE(copy.ok()) << copy.Describe() << "\n" << mirrord_->Logs();
  ASSERT_OK_AND_ASSIGN(std::string copied, ReadFileToString(out / "manifest.json"));
  json::object cm = json::parse(copied).as_object();
  EXPECT_EQ(cm["mediaType"].as_string(), "application/vnd.docker.distribution.manifest.v2+json");
  ASSERT_EQ(cm["layers"].as_array().size(), dm["layers"].as_array().size());
  for (size_t i = 0; i < cm["layers"].as_array().size(); ++i) {
    std::string d(cm["layers"].as_array()[i].as_object().at("digest").as_string());
    EXPECT_EQ(d, std::string(dm["layers"].as_array()[i].as_object().at("digest").as_string()));
    EXPECT_TRUE(fs::exists(out / d.substr(7))) << d;
  }
}

// mirrorctl images: the table, the GPU need and the docker lines; --json with stable names.
TEST_F(BuildRegistry, MirrorctlImagesListsTagsAndHowToRunThem) {
  // (The sync in SetUp queues a build of main at once, so "no images yet" is not asserted
  // here; FormatImagesTest covers that rendering.)
  json::object built = Build();
  std::string digest(built["image"].as_object()["digest"].as_string());

  ASSERT_OK_AND_ASSIGN(ProcessResult listed,
                       mirrord_->Mirrorctl({"images", "lab/model", "--json"}));
  ASSERT_TRUE(listed.ok()) << listed.Describe();
  json::object answer = json::parse(listed.stdout_text).as_object();
  EXPECT_EQ(answer["registry"].as_string(), Registry());
  ASSERT_EQ(answer["images"].as_array().size(), 1u);
  json::object e = answer["images"].as_array()[0].as_object();
  EXPECT_EQ(e["name"].as_string(), "lab/model");
  EXPECT_EQ(e["build"].as_bool(), true);
  EXPECT_EQ(e["repo"].as_string(), "org/model");
  EXPECT_EQ(e["ports"].as_array().size(), 1u);
  EXPECT_EQ(e["ports"].as_array()[0].as_string(), "8000/tcp");
  json::object gpu = e["gpu"].as_object();
  EXPECT_EQ(gpu["count"].as_int64(), 1);
  const uint64_t weights = shard1_.size() + shard2_.size();
  EXPECT_EQ(gpu["min_memory"].to_number<uint64_t>(), weights + weights / 5);
  EXPECT_EQ(gpu["require_cuda"].as_string(), ">=12.1");
  EXPECT_EQ(gpu["preflight"].as_bool(), true);
  EXPECT_EQ(e["shm_size"].as_string(), "16g");
  const std::string ref = Registry() + "/lab/model:main";
  EXPECT_EQ(e["pull"].as_string(), "docker pull " + ref);
  EXPECT_EQ(e["run"].as_string(), "docker run --rm --gpus all --shm-size 16g -p 8000:8000 " + ref);
  std::map<std::string, json::object> tags;
  for (const json::value& t : e["tags"].as_array()) {
    tags[std::string(t.as_object().at("tag").as_string())] = t.as_object();
  }
  ASSERT_EQ(tags.size(), 4u);  // main, the commit, and their -model tags
  json::object main = tags["main"];
  EXPECT_EQ(main["kind"].as_string(), "image");
  EXPECT_EQ(main["digest"].as_string(), digest);
  EXPECT_EQ(main["commit"].as_string(), commit_);
  EXPECT_EQ(main["ref"].as_string(), "refs/heads/main");
  EXPECT_GT(main["size"].to_number<int64_t>(), static_cast<int64_t>(weights));
  EXPECT_GT(main["built_at"].as_int64(), 0);
  EXPECT_TRUE(main["docker_digest"].is_string());
  EXPECT_EQ(tags["main-model"]["kind"].as_string(), "model");
  for (const char* key : {"created_at", "docker_digest"}) EXPECT_TRUE(main.contains(key)) << key;

  ASSERT_OK_AND_ASSIGN(ProcessResult human, mirrord_->Mirrorctl({"images"}));
  ASSERT_TRUE(human.ok()) << human.Describe();
  EXPECT_THAT(human.stdout_text, HasSubstr("TAG"));
  EXPECT_THAT(human.stdout_text, HasSubstr(digest.substr(0, 19)));
  EXPECT_THAT(human.stdout_text, HasSubstr(commit_.substr(0, 12)));
  EXPECT_THAT(human.stdout_text, HasSubstr("needs: 1 GPU, "));
  EXPECT_THAT(human.stdout_text, HasSubstr("a driver for CUDA >=12.1 (checked at start)"));
  EXPECT_THAT(human.stdout_text, HasSubstr("  docker pull " + ref + "\n"));
  EXPECT_THAT(human.stdout_text,
              HasSubstr("  docker run --rm --gpus all --shm-size 16g -p 8000:8000 " + ref + "\n"));

  ASSERT_OK_AND_ASSIGN(ProcessResult unknown, mirrord_->Mirrorctl({"images", "lab/nope"}));
  EXPECT_EQ(unknown.exit_code, 4) << unknown.Describe();  // mirrorctl's "no such ..." code
  EXPECT_THAT(unknown.stderr_text, HasSubstr("lab/nope"));
  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, Call("GET", "/api/v1/images"));
  EXPECT_EQ(anonymous.status, 401);
}

}  // namespace
}  // namespace mirrord::test
