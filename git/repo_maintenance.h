// Serving maintenance of a bare mirror with git's own CLI (git upload-pack serves the
// mirror, so git's formats are the ones that matter): a reachability bitmap (fast clones:
// upload-pack skips the object walk) and a commit-graph (fast negotiation).
//
// Packs are kept in a geometric progression (`git repack --geometric=2`) under a
// multi-pack index with a multi-pack bitmap: a sync that fetched a small pack costs a small
// repack, not a rewrite of the whole repository, and the first sync does not rewrite the
// pack it just received. A full repack, which also drops objects no ref reaches any more
// (history rewritten by force pushes), runs at most once per `full_repack_interval`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace mirrord {

struct MaintenanceOptions {
  std::string git_binary = "git";  // looked up in PATH when it has no '/'
  // A full `git repack -a -d` runs when the last one is older than this (the mtime of
  // objects/info/mirrord-full-repack; a mirror without that file starts counting now).
  std::chrono::seconds full_repack_interval = std::chrono::hours(24 * 7);
};

// Runs `git repack --geometric=2 -d --write-midx --write-bitmap-index -q` (or the full
// repack, see above) when the mirror has any objects, then
// `git commit-graph write --reachable`. git is started without a shell, LC_ALL=C.
// On success both steps ran. On failure the Status carries the failing command's exit
// status and the tail of its stderr: NotFound when git cannot be started or `dir` is not a
// repository, ResourceExhausted when it ran out of disk, else Internal. The repository
// stays valid and servable either way (git replaces packs, indexes and graphs by rename);
// callers report the failure and carry on. Must not run concurrently with another
// maintenance of the same mirror; concurrent fetches, publications and serving are fine.
Status RunMaintenance(const std::filesystem::path& dir, const MaintenanceOptions& options = {});

// What PruneUnreachable removed (dry run: would remove).
struct PruneReport {
  uint64_t objects = 0;
  uint64_t bytes = 0;  // on-disk size of those loose objects
};

// Garbage collection of a mirror (storage/lfs_gc.h is the LFS side): removes the loose
// objects no ref reaches that are older than `grace` (`git prune --expire=<grace>`; objects a
// fetch wrote but has not published yet are younger than any sensible grace, and a grace of
// 0 is for an operator who knows no sync runs). Unreachable objects inside packs leave with
// the periodic full repack (RunMaintenance). With `dry_run`, `git prune -n` lists them and
// nothing is removed. On failure as RunMaintenance; the repository stays valid.
// Must not run concurrently with a sync or maintenance of the same mirror (the caller holds
// the repo's sync slot).
Result<PruneReport> PruneUnreachable(const std::filesystem::path& dir, std::chrono::seconds grace,
                                     bool dry_run, const MaintenanceOptions& options = {});

// `git fsck --no-dangling --no-progress` of a mirror: OK when git finds nothing wrong;
// DataLoss with the tail of git's report when it finds a corrupt or missing object; NotFound
// when git cannot run or `dir` is not a repository.
Status CheckMirrorIntegrity(const std::filesystem::path& dir,
                            const MaintenanceOptions& options = {});

}  // namespace mirrord
