// The on-disk layout of one bare mirror and its lifecycle outside a sync.
//
// Layout: <dir> is a bare repository created by mirrord. Published refs (everything outside
// refs/mirrord/) live only in packed-refs, so one rename switches the whole served set
// (see ref_publisher.h). Fetches land in a separate staging repository inside the mirror
// (mirror_staging.h), whose objects upload-pack cannot see until publication moves them in;
// its refs are the staging namespace refs/mirrord/staging/. Protocol v0 clients are also
// held to advertised refs (uploadpack.allowAnySHA1InWant=false and friends). gc.auto=0:
// mirrord runs maintenance itself (repo_maintenance.h).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "common/status.h"

struct git_repository;

namespace mirrord {

// Everything under this prefix is mirrord's own bookkeeping, never served.
inline constexpr std::string_view kMirrordRefPrefix = "refs/mirrord/";
// Where fetches put the upstream's refs (in the staging repository) before they are
// published.
inline constexpr std::string_view kStagingRefPrefix = "refs/mirrord/staging/";

// Operations on a mirror directory as a whole. Static only; holds no state.
// Thread-safety: CreateOrOpen may race with itself for the same directory (one creation
// wins, the others open it). RecoverAfterCrash must not run while a sync or maintenance of
// the same mirror runs.
class MirrorRepository {
 public:
  MirrorRepository() = delete;

  // On success `dir` is a bare repository with mirrord's configuration (re-applied when
  // opening an existing mirror, so configuration changes reach old mirrors). Creation is
  // crash-safe: the repository is built in a temporary sibling directory
  // ".<name>.incomplete-XXXXXX", fsynced, and renamed into place, so `dir` never exists
  // half-made. On failure nothing is left behind; FailedPrecondition when `dir` exists but
  // is not a bare repository.
  static Status CreateOrOpen(const std::filesystem::path& dir);

  // Creates a bare repository at `dir` (initial branch main) crash-safely: built in the
  // sibling ".<name>.incomplete-XXXXXX", handed to `prepare` (configuration, files; may be
  // empty), fsynced and renamed into place. On success `dir` is the new repository.
  // AlreadyExists when `dir` appeared meanwhile (another creator won: theirs stays). On any
  // failure nothing of ours is left behind.
  static Status CreateBareAtomically(
      const std::filesystem::path& dir, const char* description,
      const std::function<Status(git_repository*, const std::filesystem::path&)>& prepare);

  // Removes what an interrupted sync or maintenance run leaves behind. First an interrupted
  // publication is settled (RecoverStagingAfterCrash: staged objects moved into the mirror
  // go back to staging unless the new refs were published). Then, in the mirror and in its
  // staging repository: stale lock files
  // (packed-refs.lock, HEAD.lock, config.lock, refs/**/*.lock, commit-graph locks), temporary
  // pack and object files of an interrupted fetch (libgit2's pack_git2_*, tmp_object_git2_*)
  // or repack (git's tmp_* and .tmp-*), a .pack without its .idx (never used by git; its
  // .idx is written last), index/bitmap/rev files without their pack, and incomplete
  // creation directories beside `dir`. A missing `dir` is not an error (only its incomplete
  // siblings are cleaned). On success returns the removed paths, for logging. On failure
  // some of them may have been removed already.
  static Result<std::vector<std::filesystem::path>> RecoverAfterCrash(
      const std::filesystem::path& dir);

  // RecoverAfterCrash for many mirrors at once (daemon start): each parent directory is
  // listed once for incomplete siblings, not once per mirror, so N mirrors under one owner
  // cost O(N) instead of O(N^2). Entry i is the result for dirs[i]; one failing does not
  // stop the others.
  static std::vector<Result<std::vector<std::filesystem::path>>> RecoverAllAfterCrash(
      const std::vector<std::filesystem::path>& dirs);
};

}  // namespace mirrord
