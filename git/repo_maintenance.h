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

}  // namespace mirrord
