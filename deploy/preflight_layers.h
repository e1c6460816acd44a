// The preflight in built GPU images (deploy/preflight/: mirrord-preflight checks the driver,
// CUDA, GPUs, free memory and the weights before the model server starts):
//  - a bundle layer: the preflight with its own loader and C library under
//    /.mirrord/preflight (deploy/preflight/make_bundle.sh), identical in every image built by
//    the same mirrord, so it is stored and pulled once;
//  - a manifest layer: /etc/mirrord/preflight.manifest listing each weight file of the image
//    with its size, SHA-256 (its LFS oid: nothing hashed again) and the SHA-256 of three
//    sampled 1 MiB ranges read from the store, the CUDA requirement and the GPU need;
//  - the entrypoint: the bundle's loader running the preflight, then "--" and the image's own
//    entrypoint, which the preflight execs unchanged.
// Thread-safety: functions of their arguments; the store is read-only here.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/build_config.h"
#include "common/status.h"
#include "deploy/tar_layer.h"
#include "storage/blob_store.h"

namespace mirrord {

// Where the bundle lives in an image.
inline constexpr std::string_view kPreflightImageDir = "/.mirrord/preflight";
inline constexpr std::string_view kPreflightManifestPath = "/etc/mirrord/preflight.manifest";

// The bundle next to a mirrord binary: <dir of binary>/../lib/mirrord/preflight (the build
// tree's build/lib/..., or /usr/lib/mirrord/preflight when installed).
std::filesystem::path PreflightBundleBeside(const std::filesystem::path& binary);

// The bundle's files as layer entries under .mirrord/preflight/ (regular files only, modes
// kept), each opened now and read from that descriptor when the layer is written
// (FileBackedTarEntry: nothing of them held in memory). NotFound naming the folder when the
// bundle is missing or incomplete.
Result<std::vector<TarLayerEntry>> PreflightBundleEntries(const std::filesystem::path& bundle);

// A weight file of the image: where it is inside the image, and its object in the store.
struct PreflightWeight {
  std::string image_path;  // absolute
  std::string oid;
  uint64_t size = 0;
};

// The manifest text for `weights` under `recipe` (require_cuda, gpu_count, min_gpu_memory;
// the default memory need is the weights' total + 20%). Reads the sampled ranges from the
// store; the error of the store when an object cannot be read.
Result<std::string> PreflightManifestFor(const BuildRecipe& recipe,
                                         const std::vector<PreflightWeight>& weights,
                                         const BlobStore& lfs);

// The entrypoint prefix that starts the preflight through the bundle's loader; the image's
// own entrypoint follows it.
std::vector<std::string> PreflightEntrypoint();

}  // namespace mirrord
