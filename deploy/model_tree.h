// What a build puts into an image from a mirrored revision: the files of a commit's tree,
// read with libgit2 from the bare mirror, each either an LFS pointer (the weights: the
// object lives in the LFS store under its oid), a small file held in git (content read
// here), or a symlink.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/status.h"
#include "git/lfs_pointer_scan.h"

namespace mirrord {

// Non-LFS files of one revision are held in memory for their layer; more than this is
// refused (ResourceExhausted) rather than risking the daemon's memory.
inline constexpr uint64_t kMaxSmallFilesBytes = 512ull << 20;

struct ModelFile {
  enum class Kind { kLfs, kSmall, kSymlink };
  Kind kind = Kind::kSmall;
  std::string path;      // in the tree, no leading '/'
  uint32_t mode = 0644;  // 0755 for executables, 0777 for symlinks
  LfsPointer pointer;    // kLfs
  std::string content;   // kSmall: the bytes; kSymlink: the target
};

struct ModelTree {
  std::string commit;            // hex id of the commit read
  int64_t commit_time = 0;       // committer time, Unix seconds
  std::vector<ModelFile> files;  // ordered by path (byte order)
};

// Reads the tree of `rev` (a full ref name or a commit id; annotated tags are peeled) from
// the bare repository at `mirror_dir`, keeping the regular files, executables and symlinks
// that `filter` allows (submodules are skipped). On failure: NotFound for an unknown rev
// or a missing repository, ResourceExhausted beyond kMaxSmallFilesBytes, the libgit2
// error otherwise.
// Thread-safety: opens its own repository handle; may run concurrently.
Result<ModelTree> ReadModelTree(const std::filesystem::path& mirror_dir, std::string_view rev,
                                const LfsPathFilter& filter);

}  // namespace mirrord
