// A tar layer generated from the LFS store without copying it: the canonical headers
// (deploy/tar_header.h) are bytes in memory, a file's content is a reference to a stored
// object, then padding, and the end-of-archive blocks close the layer (each OCI layer is
// one whole tar stream).
//
// A layer is described by its spec, a canonical JSON list of entries (directories, symlinks,
// files naming an LFS oid and size). The spec fixes the bytes: the same spec generates the
// same layer anywhere, so its SHA-256 (the spec key) is the key of the digest cache
// (deploy/layer_digest.h) and the spec is what the registry keeps to serve the layer again.
// Files with inline content (small files) or read from a file on disk (the recipe's extra
// files, see FileBackedTarEntry) may be part of a layer too; such a layer has no spec and is
// stored whole in the OciStore (deploy/image_builder.cc streams it there with ReadTarLayer).
//
// Thread-safety: immutable after Create; safe to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "common/status.h"
#include "deploy/tar_header.h"
#include "storage/blob_store.h"

namespace mirrord {

// A file on disk opened once for a layer: the layer's bytes are read from this descriptor,
// so the size (fstat at open) and the pinned hash apply to exactly what goes into the layer,
// whatever happens to the path meanwhile. Immutable; shared by the entries and segments
// that name it.
struct TarFileContent {
  std::filesystem::path path;  // for messages only
  UniqueFd fd;
  uint64_t size = 0;
  // The pinned SHA-256 (64 lowercase hex digits) of the content; empty: not checked.
  std::string sha256;
};

// One entry of a layer. A file's content is exactly one of: the stored object `oid` (of
// entry.size bytes), `inline_data` (entry.size must equal its length), or `file` (entry.size
// must equal file->size).
struct TarLayerEntry {
  TarEntry entry;
  std::string oid;          // files from the LFS store
  std::string inline_data;  // small files
  bool has_inline = false;
  std::shared_ptr<const TarFileContent> file;  // files read from disk (FileBackedTarEntry)
};

// A file entry at `path` in the layer with `mode`, whose content is the regular file
// `source`, opened now (its size from fstat). `pinned_sha256` (hex, or empty for none) is
// checked by ReadTarLayer against the bytes it reads from the open file (here, for an empty
// file: DataLoss when it is not the empty content's hash). NotFound when `source` does not
// exist, InvalidArgument when it is not a regular file or the pin is not 64 lowercase hex
// digits, else the errno Status of the open.
Result<TarLayerEntry> FileBackedTarEntry(std::string path, uint32_t mode,
                                         const std::filesystem::path& source,
                                         std::string pinned_sha256);

// A contiguous part of a layer: bytes held in memory, bytes of a stored object, or bytes of
// a file on disk (only in layers without a spec, which are stored whole and never served
// from segments).
struct TarSegment {
  std::string bytes;  // when oid is empty and file is null
  std::string oid;    // else: [offset, offset + length) of this object (or of `file`)...
  uint64_t offset = 0;
  uint64_t length = 0;  // ... and the segment's length in every case
  std::shared_ptr<const TarFileContent> file;
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
  // (TarHeader's rules), a file with not exactly one of oid, inline content and file, an
  // invalid oid, inline content or a file whose length is not the entry's size, or the same
  // path twice.
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
// `store` and file-backed contents from their open files in chunks of at most 1 MiB (memory
// stays bounded whatever the layer's size). A file-backed content with a pinned SHA-256 that
// lies wholly inside the range is hashed as it is fed: DataLoss (with TarFileContent's path
// in the message) after its last byte when the hash differs, so a sink that stores the
// bytes must discard them on failure. On failure: NotFound when an object is missing,
// DataLoss when an object's or a file's content is shorter than the layer says or a pin
// does not match, or the sink's error; the sink may have received a prefix.
// InvalidArgument unless begin <= end <= layer.size().
Status ReadTarLayer(const TarLayer& layer, const BlobStore& store, uint64_t begin, uint64_t end,
                    const std::function<Status(std::string_view)>& sink);

}  // namespace mirrord
