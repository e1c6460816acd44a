// A tar layer generated from the LFS store without copying it: the canonical headers
// (deploy/tar_header.h) are bytes in memory, a file's content is a reference to a stored
// object, then padding, and the end-of-archive blocks close the layer (each OCI layer is
// one whole tar stream).
//
// A layer is described by its spec, a canonical JSON list of entries (directories, symlinks,
// files naming an LFS oid and size). The spec fixes the bytes: the same spec generates the
// same layer anywhere, so its SHA-256 (the spec key) is the key of the digest cache
// (deploy/layer_digest.h) and the spec is what the registry keeps to serve the layer again.
// Files with inline content (small files, extra files) may be part of a layer too; such a
// layer has no spec and is stored whole (see Materialize).
//
// Thread-safety: immutable after Create; safe to share.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "deploy/tar_header.h"
#include "storage/blob_store.h"

namespace mirrord {

// One entry of a layer. A file's content is either the stored object `oid` (of entry.size
// bytes) or `inline_data` (entry.size must equal its length).
struct TarLayerEntry {
  TarEntry entry;
  std::string oid;          // files from the LFS store
  std::string inline_data;  // other files
  bool has_inline = false;
};

// A contiguous part of a generated layer: bytes held in memory, or bytes of a stored object.
struct TarSegment {
  std::string bytes;  // when oid is empty
  std::string oid;    // else: [offset, offset + length) of this object...
  uint64_t offset = 0;
  uint64_t length = 0;  // ... and the segment's length in both cases
};

// A piece of a byte range of the layer: `length` bytes of segment `segment` from `offset`
// within the segment.
struct TarPiece {
  size_t segment = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

class TarLayer {
 public:
  // Builds the layer from `entries`, in the order given. InvalidArgument for a bad entry
  // (TarHeader's rules), a file with neither or both of oid and inline content, an invalid
  // oid, inline content whose length is not the entry's size, or the same path twice.
  static Result<TarLayer> Create(std::vector<TarLayerEntry> entries);
  // Rebuilds the layer a spec describes. InvalidArgument for anything Create refuses or
  // for JSON that is not a spec.
  static Result<TarLayer> FromSpec(std::string_view spec_json);

  uint64_t size() const { return size_; }
  const std::vector<TarSegment>& segments() const { return segments_; }
  const std::vector<TarLayerEntry>& entries() const { return entries_; }

  // True when every file's content comes from the store (the layer has a spec).
  bool generated() const { return !has_inline_; }
  // The canonical JSON spec; empty when !generated().
  const std::string& spec() const { return spec_; }
  // SHA-256 (hex) of spec(); empty when !generated().
  const std::string& spec_key() const { return spec_key_; }

  // The pieces covering [begin, end) in order; requires begin <= end <= size().
  std::vector<TarPiece> Pieces(uint64_t begin, uint64_t end) const;

 private:
  std::vector<TarLayerEntry> entries_;
  std::vector<TarSegment> segments_;
  uint64_t size_ = 0;
  bool has_inline_ = false;
  std::string spec_;
  std::string spec_key_;
};

// Feeds the bytes [begin, end) of `layer` to `sink` in order, reading stored objects from
// `store` in chunks of at most 1 MiB (memory stays bounded whatever the layer's size). On
// failure: NotFound when an object is missing, DataLoss when an object's file is shorter
// than the layer says, or the sink's error; the sink may have received a prefix.
// InvalidArgument unless begin <= end <= layer.size().
Status ReadTarLayer(const TarLayer& layer, const BlobStore& store, uint64_t begin, uint64_t end,
                    const std::function<Status(std::string_view)>& sink);

}  // namespace mirrord
