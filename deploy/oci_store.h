// OciStore: the content-addressed blobs of the build stage that are not LFS objects:
// manifests, image configs, and the few layers built from inline content (the extra files,
// the model's small files). Layout under its root (<storage root>/oci):
//
//   blobs/sha256/<hex>    one file per digest (mode 0444), written once
//   incomplete/           temporary files of writes in progress; <hex>.part files are
//                         downloads of base layers kept across attempts (resumed by Range)
//
// Weights are never here: a weight layer is generated from the LFS store (deploy/tar_layer.h)
// and a raw model-artifact layer IS the LFS object. Every blob is written through one path,
// OciStore::Writer (Put is a wrapper on it): the bytes stream into a temporary file of
// incomplete/ and are hashed as they go, and the blob appears only whole (fdatasync, rename,
// fsync the directory), so a crash leaves no partial blob and memory does not grow with a
// blob's size.
// Thread-safety: thread-safe (writes of the same digest race harmlessly: same bytes).
#pragma once

#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/status.h"

namespace mirrord {

// True for "sha256:" followed by 64 lowercase hex digits.
bool IsValidSha256Digest(std::string_view digest);

class OciStore {
 public:
  // Opens (creating if missing) the store at `root`; leftover temporary files are removed.
  static Result<std::unique_ptr<OciStore>> Open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }

  class Writer;
  // Starts a blob whose bytes are not known yet (see Writer). The errno Status of creating
  // its temporary file on failure.
  Result<Writer> NewWriter();
  // Stores `bytes` (through a Writer); on success returns their digest ("sha256:<hex>") and
  // the blob is durable. A blob already present is not replaced.
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

// A blob written in pieces: Append streams bytes to a temporary file under incomplete/
// (never a blob path) and hashes them as they go, holding no copy of them; Commit makes the
// file the blob named by their digest. A Writer destroyed without a successful Commit
// removes its temporary file (a moved-from Writer owns nothing): an abandoned or failed write
// leaves no blob and nothing in incomplete/ (a crash's leftovers are removed by the next
// Open). After a failed Append or Commit the Writer is spent: further calls fail.
// Thread-safety: one thread at a time; writers of the same store may run concurrently
// (writes of the same digest race harmlessly: same bytes).
class OciStore::Writer {
 public:
  Writer(Writer&& o) noexcept;
  Writer& operator=(Writer&&) = delete;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Appends `bytes` to the blob. The errno Status of the write on failure.
  Status Append(std::string_view bytes);
  // Bytes appended so far.
  uint64_t size() const { return size_; }
  // Makes the appended bytes the blob "sha256:<hex of their SHA-256>" (fdatasync, rename,
  // directory fsync) and returns that digest; when the store holds the digest already, the
  // temporary file is removed and the stored blob kept. On failure no blob appears and the
  // temporary file is removed. FailedPrecondition when called twice or after a failure.
  Result<std::string> Commit();

 private:
  friend class OciStore;
  Writer(OciStore& store, std::filesystem::path tmp, UniqueFd fd);
  void Discard();

  OciStore* store_;
  std::filesystem::path tmp_;  // empty once committed or discarded
  UniqueFd fd_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

}  // namespace mirrord
