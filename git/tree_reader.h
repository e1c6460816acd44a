// PublishedTreeReader: read-only access to the files of a bare mirror's PUBLISHED history, for
// the Hugging Face–compatible endpoint: revision names to commits, paths to tree entries,
// listings of trees, and blob contents.
//
// "Published" means what git clients of the mirror can see: the refs in packed-refs outside
// refs/mirrord/ (ref_publisher.h) and the commits reachable from them. Objects a sync has
// fetched into staging but not yet published exist in the object database, but no revision
// form here reaches them: a commit id answers NotFound unless a published ref reaches it.
//
// Thread-safety: one reader belongs to one thread at a time (it owns a git_repository);
// any number of readers may read the same mirror concurrently, also during a publication.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/status.h"
#include "git/libgit2_status.h"

namespace mirrord {

// A published revision resolved to its commit.
struct ResolvedCommit {
  std::string oid;          // 40 lowercase hex digits
  int64_t commit_time = 0;  // committer time, Unix seconds
};

// One entry of a commit's tree.
struct TreeEntryInfo {
  enum class Type { kFile, kDirectory };
  Type type = Type::kFile;
  std::string path;               // from the repository root, '/'-separated, no leading '/'
  std::string oid;                // the git blob id (files) or tree id (directories)
  uint64_t blob_size = 0;         // the blob's size: the pointer's for LFS files; 0 for directories
  std::optional<LfsPointer> lfs;  // set when the blob is a valid LFS pointer

  // The file's size as users see it: the LFS object's size, else the blob's.
  uint64_t size() const { return lfs ? lfs->size : blob_size; }
};

// Is `path` an acceptable repository file path: non-empty, relative, no empty, "." or ".."
// segments, no NUL or backslash? (Used before any lookup so that traversal attempts are
// refused as such, not merely not found.)
bool IsValidTreePath(std::string_view path);

class PublishedTreeReader {
 public:
  // Opens the bare mirror at `dir`. NotFound when there is no repository there.
  static Result<PublishedTreeReader> Open(const std::filesystem::path& dir);

  // The commit `revision` names among the published refs: "HEAD" (the ref HEAD points
  // at), a full ref name ("refs/heads/main", "refs/pr/1"), a branch name, then a tag name
  // (annotated tags peeled), or a full 40-hex commit id reachable from a published ref.
  // NotFound for anything else (abbreviated ids, unpublished commits, non-commits);
  // DataLoss/Internal when the mirror cannot be read.
  Result<ResolvedCommit> ResolveRevision(std::string_view revision);

  // The entry at `path` in `commit`'s tree ("" is the root directory). NotFound when there
  // is no such entry (or it is a submodule); InvalidArgument for a path IsValidTreePath
  // refuses (except "").
  Result<TreeEntryInfo> Stat(std::string_view commit, std::string_view path);

  // Entries below the directory `path` of `commit` ("" is the root), in tree order; with
  // `recursive`, depth-first with each directory before its contents. Entries [offset,
  // offset + limit) of that order are returned; `*more` says whether any follow. Work is
  // proportional to offset + limit, never to the size of the whole tree. Submodules are
  // skipped. NotFound when `path` is not a directory of the commit.
  Result<std::vector<TreeEntryInfo>> List(std::string_view commit, std::string_view path,
                                          bool recursive, uint64_t offset, uint64_t limit,
                                          bool* more);

  // The contents of blob `oid`. ResourceExhausted when it is larger than `max_size`.
  Result<std::string> ReadBlob(std::string_view oid, uint64_t max_size);

 private:
  explicit PublishedTreeReader(RepositoryPtr repo, std::filesystem::path dir)
      : repo_(std::move(repo)), dir_(std::move(dir)) {}

  RepositoryPtr repo_;
  std::filesystem::path dir_;
};

}  // namespace mirrord
