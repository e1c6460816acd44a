// Serving maintenance of a bare mirror with git's own CLI (git upload-pack serves the
// mirror, so git's formats are the ones that matter): one pack with a reachability bitmap
// (fast clones: upload-pack skips the object walk) and a commit-graph (fast negotiation).
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace mirrord {

// Brings the mirror at `dir` to "one pack with a bitmap, plus a commit-graph": runs
// `git repack -a -d -b -q` unless there is already exactly one pack and it has a bitmap,
// then `git commit-graph write --reachable`. git is started with posix_spawnp (no shell;
// `git_binary` looked up in PATH when it has no '/'), LC_ALL=C. Objects reachable from no
// ref (published or staging) are dropped by the repack.
// On success both steps ran (or the repack was unnecessary). On failure the Status carries
// the failing command's exit status and the tail of its stderr: NotFound when git cannot be
// started, ResourceExhausted when it ran out of disk, else Internal. The repository stays
// valid and servable either way (git replaces packs and graphs by rename); callers report
// the failure and carry on. Must not run concurrently with another maintenance of the same
// mirror; concurrent fetches, publications and serving are fine.
Status RunMaintenance(const std::filesystem::path& dir, const std::string& git_binary = "git");

}  // namespace mirrord
