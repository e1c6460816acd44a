// Where the bytes of an image blob are, for everything that sends them (the registry's blob
// route, pushes to another registry, archive export): an OCI blob file (a config, an inline
// layer), a raw LFS object (an artifact layer), or a tar layer generated from the LFS store
// (deploy/tar_layer.h). The same digest always yields the same bytes, whichever source.
//
// Thread-safety: free functions; safe to call concurrently (the catalog and stores are).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "common/file_util.h"
#include "common/status.h"
#include "deploy/oci_store.h"
#include "deploy/tar_layer.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

struct ImageBlobSource {
  UniqueFd fd;                    // an OCI blob or LFS object, open (when !layer)
  uint64_t size = 0;              // the blob's size in bytes
  std::optional<TarLayer> layer;  // else: a generated layer
};

// Locates `digest` ("sha256:<hex>") as a blob of image name `name`. nullopt when `name`
// does not reference it (a manifest of another repo's blob answers as absent) or no
// source holds it; an error only for a failing store or catalog.
Result<std::optional<ImageBlobSource>> LocateImageBlob(Catalog& catalog, const BlobStore& lfs,
                                                       const OciStore& oci, std::string_view name,
                                                       std::string_view digest);

// Feeds the bytes [begin, end) of a located blob to `sink` in order, at most 1 MiB at a
// time (memory stays bounded whatever the blob's size). InvalidArgument unless
// begin <= end <= source.size; DataLoss when a file is shorter than it should be; else the
// sink's error. The sink may have received a prefix on failure.
Status ReadImageBlob(const ImageBlobSource& source, const BlobStore& lfs, uint64_t begin,
                     uint64_t end, const std::function<Status(std::string_view)>& sink);

}  // namespace mirrord
