// OciStore: the content-addressed blobs of the build stage that are not LFS objects:
// manifests, image configs, and the few layers built from inline content (the extra files,
// the model's small files). Layout under its root (<storage root>/oci):
//
//   blobs/sha256/<hex>    one file per digest (mode 0444), written once
//   incomplete/           temporary files of writes in progress; <hex>.part files are
//                         downloads of base layers kept across attempts (resumed by Range)
//
// Weights are never here: a weight layer is generated from the LFS store (deploy/tar_layer.h)
// and a raw model-artifact layer IS the LFS object. A blob appears only whole (write to
// incomplete/, fdatasync, rename, fsync the directory), so a crash leaves no partial blob.
// Thread-safety: thread-safe (writes of the same digest race harmlessly: same bytes).
#pragma once

#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/file_util.h"
#include "common/status.h"

namespace mirrord {

// True for "sha256:" followed by 64 lowercase hex digits.
bool IsValidSha256Digest(std::string_view digest);

class OciStore {
 public:
  // Opens (creating if missing) the store at `root`; leftover temporary files are removed.
  static Result<std::unique_ptr<OciStore>> Open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }

  // Stores `bytes`; on success returns their digest ("sha256:<hex>") and the blob is durable.
  // A blob already present is not written again.
  Result<std::string> Put(std::string_view bytes);
  bool Contains(std::string_view digest) const;
  // NotFound when absent; InvalidArgument for a malformed digest.
  Result<UniqueFd> OpenBlob(std::string_view digest) const;
  // The whole blob (for manifests and configs, which are small). NotFound when absent.
  Result<std::string> Read(std::string_view digest) const;
  std::filesystem::path BlobPath(std::string_view digest) const;

  // Removes the blob (retention's collector, deploy/image_retention.h); OK when absent.
  // InvalidArgument for a malformed digest.
  Status Remove(std::string_view digest);
  // Builds hold it shared from their first blob to their publication; the collector holds
  // it exclusively, so it never removes a blob a build is about to publish (builds of one
  // process; see deploy/image_retention.h).
  std::shared_mutex& collection_mutex() const { return collection_mutex_; }

  // Where a download of `digest` accumulates (kept across restarts for resumption).
  std::filesystem::path PartialPath(std::string_view digest) const;
  // Checks that the file at PartialPath(digest) has `size` bytes whose SHA-256 is `digest`,
  // then makes it the blob (fdatasync, rename, directory fsync). DataLoss on a mismatch
  // (the partial file is removed so the next attempt starts over); the I/O error otherwise.
  Status AdoptPartial(std::string_view digest, uint64_t size);

 private:
  explicit OciStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
  mutable std::shared_mutex collection_mutex_;
};

}  // namespace mirrord
