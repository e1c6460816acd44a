// The layout of an image exported for an air-gapped host: one tar stream holding an OCI
// image layout (what `skopeo copy oci-archive:FILE ...` reads) that `docker load` also
// takes (it reads the Docker-style manifest.json at the root):
//
//   oci-layout                 {"imageLayoutVersion":"1.0.0"}
//   index.json                 an image index naming the manifest, annotated with
//                              org.opencontainers.image.ref.name = TAG and
//                              io.containerd.image.name = NAME:TAG
//   manifest.json              [{"Config":"blobs/sha256/<hex>","RepoTags":["NAME:TAG"],
//                                "Layers":["blobs/sha256/<hex>",...]}]   (runnable images
//                              only: a model artifact is nothing docker can load)
//   blobs/  blobs/sha256/      directories
//   blobs/sha256/<hex>         the manifest, then its config, then each layer once, in the
//                              manifest's order
//
// The archive is a plan: small parts held in memory (the JSON files, tar headers, padding,
// the end-of-archive blocks) and references to blobs the caller supplies from the store, so
// weights are never copied and the total size is known before the first byte (a sized HTTP
// response). The same image always gives the same bytes (canonical tar headers,
// deploy/tar_header.h; the JSON written deterministically).
//
// Thread-safety: pure functions; an OciArchive is immutable and may be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

// A blob the archive holds: "sha256:<hex>" and its size (from the manifest's descriptor).
struct OciArchiveBlob {
  std::string digest;
  uint64_t size = 0;
};

// A contiguous part of the archive: bytes in memory, or the whole of blob `blob`.
struct OciArchivePart {
  std::string bytes;  // when !is_blob
  bool is_blob = false;
  size_t blob = 0;      // index into OciArchive::blobs when is_blob
  uint64_t length = 0;  // the part's length in both cases
};

struct OciArchive {
  // Every blob except the manifest (held in memory, it is a part of its own): the config
  // first, then each distinct layer.
  std::vector<OciArchiveBlob> blobs;
  std::vector<OciArchivePart> parts;  // in archive order
  uint64_t size = 0;                  // the sum of the parts' lengths
};

struct OciArchiveImage {
  std::string name;             // distribution name, e.g. "lab/glm-4"
  std::string tag;              // e.g. "main"
  std::string manifest_digest;  // "sha256:<hex>" of manifest_bytes
  std::string manifest_media_type;
  std::string manifest_bytes;   // the exact stored manifest
  bool docker_loadable = true;  // write manifest.json (false for a model artifact)
};

// Lays out the archive of `image`. InvalidArgument for a manifest that is not JSON, lacks a
// config or layers array, names a descriptor without a valid sha256 digest or size, or
// whose bytes do not hash to manifest_digest; for an invalid name or tag.
Result<OciArchive> PlanOciArchive(const OciArchiveImage& image);

// Feeds the archive's bytes to `sink` in order; a blob part's bytes come from
// `read_blob(blob, sink)`, which must feed exactly blob.size bytes (else DataLoss, naming
// the blob). Memory stays bounded by what read_blob passes at a time. On failure the sink
// may have received a prefix.
Status WriteOciArchive(
    const OciArchive& archive,
    const std::function<Status(const OciArchiveBlob&,
                               const std::function<Status(std::string_view)>&)>& read_blob,
    const std::function<Status(std::string_view)>& sink);

}  // namespace mirrord
