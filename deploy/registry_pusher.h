// The registry client behind ImagePusher (deploy/image_pusher.h): pushes an image manifest
// of mirrord's catalog, with its config and layers read from the stores exactly as the
// registry route serves them (deploy/image_blob_source.h), to another registry through the
// OCI distribution API (deploy/registry_session.h does the HTTP and the authentication).
//
// Per blob, in manifest order (config, then layers): HEAD, skipped when present; else a
// cross-repository mount (POST ?mount=&from=) when this pusher saw the registry hold the
// blob under another repository (an in-memory record per instance, per registry origin),
// 201 = mounted, 202 = upload into the session it opened; else an upload: a blob smaller
// than monolithic_limit in one PUT ?digest=, a larger one in PATCH chunks with
// Content-Range (chunk_size, at least the registry's OCI-Chunk-Min-Length) closed by
// PUT ?digest=. After a dropped connection, a stall or a 5xx during a chunk, the upload
// URL is asked where it stands (GET: 204 with Range 0-N) and the upload goes on from N+1;
// when the registry lost the upload (404), it starts again from zero. Then the manifest,
// by digest, then each tag, with the stored bytes and media type.
//
// Retries: transfer failures, 408/5xx and 429 are retried after a backoff with full jitter
// (http/backoff.h), at least the Retry-After the registry asked for, at most max_retries
// times per push in all; anything else fails at once. A failure says which blob or
// manifest and why; nothing of mirrord's own stores is written either way.
// Thread-safety: Push may run concurrently on one instance (the mount record is locked).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "deploy/image_pusher.h"
#include "deploy/registry_session.h"
#include "http/backoff.h"
#include "http/retry_wait.h"

namespace mirrord {

struct RegistryPusherOptions {
  uint64_t monolithic_limit = 8 << 20;  // blobs below this size go in one PUT
  uint64_t chunk_size = 64 << 20;       // PATCH size for larger blobs
  int max_retries = 12;                 // per push, all requests together
  BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::milliseconds(30'000),
                        kFullJitter};
  RetryTiming timing;  // tests: no real sleeps, fixed jitter
  RegistrySessionOptions session;
  std::chrono::milliseconds progress_interval{250};  // at most one progress call per interval
};

std::unique_ptr<ImagePusher> MakeRegistryPusher(Catalog& catalog, const BlobStore& lfs,
                                                const OciStore& oci, RegistryPusherOptions options);

}  // namespace mirrord
