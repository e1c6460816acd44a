// Base images pulled once through the OCI distribution API into the OciStore: the manifest
// (for an index / manifest list, the linux/amd64 one), the config and every layer, each
// verified against its digest before it is kept. Layers already stored are not fetched
// again; an interrupted layer download continues from its partial file with a Range
// request. Authentication: a bearer token from `token_file`; otherwise anonymous, answering
// a 401 challenge with Basic (username + password_file) or with a token from the
// challenge's realm (Docker's token flow, with the basic credentials if any).
// Thread-safety: PullBaseImage may run concurrently (one curl session per call).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/build_config.h"
#include "common/status.h"
#include "deploy/image_reference.h"
#include "deploy/oci_json.h"
#include "deploy/oci_store.h"

namespace mirrord {

inline constexpr uint64_t kMaxManifestBytes = 4 << 20;

struct PulledBase {
  ImageReference reference;
  std::string manifest_digest;  // the image manifest used (after platform selection)
  std::string config;           // config JSON bytes
  std::string config_digest;
  std::vector<OciDescriptor> layers;  // OCI media types (Docker ones translated)
};

struct PullOptions {
  std::chrono::milliseconds stall_timeout{60'000};
  const std::atomic<bool>* cancel = nullptr;
};

// Pulls `ref` from the registry at `registry.url` (or https://ref.registry when `registry`
// is null). On success every blob of the image is in `store`. Errors: Unavailable when the
// registry cannot be reached or answers 5xx, PermissionDenied on 401/403 after auth,
// NotFound on 404, DataLoss when bytes do not match their digest (a pinned manifest digest
// included), InvalidArgument for a manifest that is not an image manifest or has no
// linux/amd64 entry, ResourceExhausted beyond kMaxManifestBytes or a layer's declared size.
Result<PulledBase> PullBaseImage(const ImageReference& ref, const RegistryConfig* registry,
                                 OciStore& store, const PullOptions& options = {});

}  // namespace mirrord
