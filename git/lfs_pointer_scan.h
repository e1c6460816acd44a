// Finding the Git LFS pointers a mirror's refs need: the pointer blobs in the trees of the
// mirrored branches and tags, after each fetch, reading only trees that are new since the
// previous scan.
//
// What is scanned. Default: for each ref, the object it names peeled through any chain of
// annotated tags; a commit contributes its whole tree, a tree (a tag of a tree) itself, a
// blob (a tag of a blob) itself with an empty path. With `all_history`, a commit tip
// contributes the tree of every commit reachable from it. In a tree, regular and executable
// files are candidates; symlinks (never smudged by git-lfs) and submodule entries (commits
// of another repository) are not.
//
// What a pointer is: common/lfs_pointer.h (ParseLfsPointer). A blob whose object header says it is
// kMaxLfsPointerSize bytes or more is rejected from the header alone; only smaller blobs are
// read.
//
// Incremental scans. Git names a tree by its content, so what lies beneath a tree is a
// function of its oid. LfsScanCache remembers, per tree oid, the pointers directly in it and
// which of its subtrees lead to pointers; a tree found in the cache is never read again, and
// its pointers are re-expanded from memory under whatever path it now sits. A cache entry
// can never be stale (the oid fixes the content), so a cache only ever saves work and never
// hides a pointer. The cache is held in memory by the caller, one per mirror, for the life
// of the process; after a restart the first scan of each mirror reads everything once.
// Filters are applied after the cache (the cache holds unfiltered facts), so changing a
// repo's include/exclude patterns needs no invalidation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/status.h"

namespace mirrord {

// Which LFS objects a sync fetches, by the path of their pointer within the tree
// ("models/unet/diffusion.safetensors", no leading slash): the lfs.fetchinclude /
// lfs.fetchexclude rules of git-lfs (gitignore(5) wildcard matching), stated precisely:
//  - A path is allowed when `include` is empty or some include pattern matches it, and no
//    exclude pattern matches it.
//  - A pattern matches a path when it matches the whole path or one of its leading
//    directories ("media/big" matches "media/big/a.bin"): a pattern naming a directory
//    selects everything beneath it.
//  - A pattern with no '/' except a trailing one is matched against every component at any
//    depth: "*.bin" matches "a.bin" and "x/y/a.bin"; "textures" matches "textures/t.png"
//    and "a/textures/t.png".
//  - A pattern with a '/' at the start or in the middle is anchored at the root of the tree
//    and matched component by component: "images/foo*" matches "images/foo1.png", not
//    "x/images/foo1.png" nor "images/sub/foo1.png". A leading "/" or "./" only anchors.
//  - Within a component, fnmatch(3) without flags: '*' and '?' never cross a '/', '*' does
//    match a leading '.', "[...]" classes and '\' escapes work. Matching is case-sensitive.
//  - A component that is exactly "**" matches zero or more components: "**/ckpt/*.pt",
//    "a/**/b". Any other run of '*' acts as one '*'.
//  - A trailing '/' restricts the pattern to directories: "models/" matches "models/a.bin"
//    but not a file named "models". A trailing "/**" means the same ("data/**").
//  - "/", "." and "./" match every path. Empty patterns are ignored (as git-lfs treats an
//    empty -I or -X).
// The empty path (a pointer a tag names directly) matches no pattern, so it is filtered
// out only when `include` is not empty.
// Thread-safety: immutable after Create; safe to share.
class LfsPathFilter {
 public:
  // An allow-everything filter.
  LfsPathFilter() = default;

  // InvalidArgument when a pattern contains a NUL byte; otherwise always succeeds.
  static Result<LfsPathFilter> Create(const std::vector<std::string>& include,
                                      const std::vector<std::string>& exclude);

  bool Allows(std::string_view path) const;

 private:
  struct Pattern {
    std::vector<std::string> components;  // unanchored patterns start with "**"
    bool directory_only = false;
  };
  static Pattern Compile(std::string_view raw);
  static bool Matches(const Pattern& pattern, const std::vector<std::string_view>& path);

  std::vector<Pattern> include_;
  std::vector<Pattern> exclude_;
};

struct LfsScanOptions {
  bool all_history = false;          // every commit reachable from each ref, not just tips
  std::vector<std::string> include;  // LfsPathFilter patterns
  std::vector<std::string> exclude;
};

// One distinct pointer (oid and size) needed by one ref.
struct FoundLfsPointer {
  LfsPointer pointer;
  // A path where the ref has it: the first one found that the filters allow, or, when none
  // does, the first one found. Trees are visited depth first, a tree's own files before its
  // subdirectories, each in git's name order; with all_history, newest commits first.
  std::string path;
  bool filtered_out = false;  // no path where this ref has it is allowed by the filters

  friend bool operator==(const FoundLfsPointer&, const FoundLfsPointer&) = default;
};

struct LfsScanResult {
  // Every ref of `tips` (even one without pointers), its pointers sorted by pointer.
  std::map<std::string, std::vector<FoundLfsPointer>> by_ref;
  // Distinct pointers over all refs, sorted. `wanted`: allowed by the filters at some path
  // of some ref (the sync fetches them). `filtered`: found only at filtered-out paths (still
  // referenced, so served by pull-through, but not fetched by the sync). Disjoint. A
  // pointer is identified by oid and size: the same oid with two sizes appears twice (the
  // download of the wrong one fails its size check).
  std::vector<LfsPointer> wanted;
  std::vector<LfsPointer> filtered;

  // What this scan read from the object database (cache hits cost nothing).
  uint64_t trees_walked = 0;    // tree objects read
  uint64_t blobs_examined = 0;  // blob object headers read (distinct blobs in walked trees)
  uint64_t blobs_read = 0;      // blob contents read (those under kMaxLfsPointerSize)
  uint64_t commits_walked = 0;  // commits visited (all_history only)
};

namespace lfs_scan_internal {
struct CacheData;
}

// Per-tree memo of pointer facts, kept by the caller between scans of one mirror (see the
// file comment). Each successful scan adds the trees it walked and then drops entries no
// longer reachable from what it scanned, so memory tracks the trees of the current refs
// (with all_history, of their whole history), holding one small record per tree and
// nothing per non-pointer blob. A failed scan leaves only complete, correct entries.
// Thread-safety: not thread-safe; one scan at a time may use a cache.
class LfsScanCache {
 public:
  LfsScanCache();
  ~LfsScanCache();
  LfsScanCache(LfsScanCache&&) noexcept;
  LfsScanCache& operator=(LfsScanCache&&) noexcept;
  LfsScanCache(const LfsScanCache&) = delete;
  LfsScanCache& operator=(const LfsScanCache&) = delete;

  // Number of trees remembered.
  size_t size() const;
  void Clear();

 private:
  friend class LfsPointerScanner;
  std::unique_ptr<lfs_scan_internal::CacheData> data_;
};

// Scans the refs `tips` (full ref name -> 40-hex oid of what the ref names: commit, tag,
// tree or blob) of the bare repository at `bare_repo_dir`, including its staged objects when
// it is a mirror with a staging area (mirror_staging.h), for LFS pointers, per the file
// comment. `cache` may be null (nothing is remembered beyond this call). On success every
// pointer in every scanned tree is reported in `by_ref`, and `cache` holds what the next
// scan needs. On failure nothing is reported: InvalidArgument for a malformed oid or
// pattern; NotFound for a missing repository or a missing object (an incomplete mirror);
// DataLoss for an object whose type contradicts the tree entry naming it;
// ResourceExhausted for trees nested more than 2048 levels deep, the root counting as one
// (git's own core.maxTreeDepth); other libgit2 failures as Libgit2Status.
// Cost: object reads only for trees not in the cache and for the blobs directly in them;
// in-memory work proportional to the pointers reported, plus one pass over the cache to
// prune it. With all_history, each ref's commits are walked on every scan (commit objects
// only: their trees come from the cache).
// Thread-safety: opens its own repository handle; concurrent scans of the same mirror are
// fine as long as each has its own cache (or none).
Result<LfsScanResult> ScanLfsPointers(const std::filesystem::path& bare_repo_dir,
                                      const std::map<std::string, std::string>& tips,
                                      const LfsScanOptions& options, LfsScanCache* cache);

}  // namespace mirrord
