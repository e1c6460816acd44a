// The seam between the push job (daemon/, `mirrorctl push`) and the registry client that
// copies a built image to another registry (deploy/registry_pusher.h). The job decides what
// to push where and records the outcome; the pusher moves the bytes.
//
// Contract of Push, for every implementation:
//  - blobs first (each one skipped when the destination has it, mounted from another
//    repository of the destination when it can, else uploaded, resuming an interrupted
//    upload where the registry allows), then the manifest by digest, then each tag;
//  - the exact bytes mirrord serves: every digest stays the one mirrord's registry answers;
//  - on failure the Status says which blob (or manifest) and why; nothing served by mirrord
//    is touched either way;
//  - `progress` (may be empty) is called from the pushing thread, at most a few times per
//    second; `cancelled` (may be null) is polled and ends the push with Cancelled.
// Thread-safety: one Push per thread at a time per instance unless the implementation says
// otherwise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// A destination registry with its secrets already read (config: [registries.NAME]).
struct RegistryTarget {
  std::string name;      // the config's NAME, for logs and metrics
  std::string url;       // "https://registry.lab:5000" (http:// only when insecure)
  std::string username;  // with password: HTTP Basic, also used for the token flow
  std::string password;
  std::string token;    // else: a bearer token sent as is (token_file)
  std::string ca_file;  // extra CA bundle to trust; "" for the system store
  bool insecure = false;
};

// What to push: image `source_name`'s manifest `manifest_digest`, as it is served by
// mirrord's registry, to `repository` on the target, tagged `tags` (may be empty: by digest
// only).
struct PushRequest {
  std::string source_name;      // mirrord's image name, e.g. "thudm/glm-4-vision"
  std::string manifest_digest;  // "sha256:<hex>"
  std::string repository;       // destination repository, e.g. "models/glm-4-vision"
  std::vector<std::string> tags;
};

struct PushProgress {
  uint64_t bytes_total = 0;  // of the blobs that need sending (known after the HEADs)
  uint64_t bytes_sent = 0;
  size_t blobs_total = 0;
  size_t blobs_done = 0;
  std::string blob;  // the digest being sent, "" between blobs
};

struct PushReport {
  uint64_t bytes_sent = 0;  // blob bytes sent over the wire (resends counted)
  size_t blobs_skipped = 0;
  size_t blobs_mounted = 0;
  size_t blobs_uploaded = 0;
  size_t uploads_resumed = 0;
  std::chrono::milliseconds duration{0};
};

class ImagePusher {
 public:
  virtual ~ImagePusher() = default;
  virtual Result<PushReport> Push(const RegistryTarget& target, const PushRequest& request,
                                  const std::function<void(const PushProgress&)>& progress,
                                  const std::atomic<bool>* cancelled) = 0;
};

// The registry client (deploy/registry_pusher.cc) over mirrord's stores: the bytes it
// pushes are the ones the registry route serves (deploy/image_blob_source.h).
std::unique_ptr<ImagePusher> MakeRegistryPusher(Catalog& catalog, const BlobStore& lfs,
                                                const OciStore& oci);

}  // namespace mirrord
