// The staging area of a mirror: where a sync puts what it fetched until publication, out of
// sight of `git upload-pack`.
//
// Why a separate object directory. Protocol v2 lets a client ask for any object in the
// served repository's object database by its SHA (uploadpack.allowAnySHA1InWant restricts
// only protocol v0), so a hidden ref namespace is not enough: objects fetched but not yet
// published (their sync failed in its LFS phase, say) must not be in the mirror's object
// database at all. As `git receive-pack` does with its quarantine, a sync fetches into a
// separate bare repository inside the mirror, `<mirror>/mirrord-staging`, whose
// objects/info/alternates names the mirror's objects ("../../objects", relative, so the
// storage root can move): negotiation and connectivity checks see the published history,
// upload-pack on the mirror never sees the staged objects. Its refs are the staging refs
// (refs/mirrord/staging/..., see mirror_fetcher.h); they stay between syncs so that a sync
// after a failed one does not download the same objects again.
//
// Publication (PublishRefs, ref_publisher.h) moves the staged packs and loose objects into
// the mirror's object directory and then switches the refs, crash-safely:
//   1. packed-refs.lock is created and filled with the new ref set (fdatasync);
//   2. the journal `<staging>/mirrord-migration` lists the files about to move (fdatasync,
//      directory fsync);
//   3. each file is fsynced and renamed into the mirror: every .pack (and .rev, .keep...)
//      before any .idx (git finds packs through their .idx), the directory fsynced between;
//   4. packed-refs.lock is renamed onto packed-refs (the new refs are served);
//   5. the journal is removed.
// A crash leaves the journal; recovery (RecoverStagingAfterCrash) then decides by the lock:
// still there means step 4 never happened, so the moved files go back to staging (the mirror
// serves exactly its old state, nothing staged is fetchable by SHA); gone means the refs
// were published, so the journal is dropped. Either way no ref points at a missing object.
//
// Thread-safety: functions taking a mirror directory must not run concurrently with a sync,
// publication or recovery of the same mirror (the scheduler runs one job per repo).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "common/status.h"

struct git_odb;

namespace mirrord {

// The staging repository's directory name inside a mirror.
inline constexpr std::string_view kStagingDirName = "mirrord-staging";
// The migration journal's name inside the staging repository.
inline constexpr std::string_view kMigrationJournalName = "mirrord-migration";

// `<mirror>/mirrord-staging` (whether or not it exists).
std::filesystem::path StagingDirectory(const std::filesystem::path& mirror_dir);

// Creates the staging repository of the mirror at `mirror_dir` when absent (crash-safe:
// built in ".mirrord-staging.incomplete-XXXXXX" inside the mirror, fsynced, renamed), or
// re-checks its alternates file when present. Also removes staging refs an older mirrord
// kept in the mirror itself (refs/mirrord/staging/). On success returns the staging
// directory, a bare repository whose object database includes the mirror's.
Result<std::filesystem::path> EnsureStagingRepository(const std::filesystem::path& mirror_dir);

// Adds the staged objects of `mirror_dir` (when it has a staging repository) to `odb`, an
// object database of the mirror opened by this process, as an alternate: for reading what
// is about to be published (the LFS pointer scan, publication's own checks). Never use such a
// handle to serve clients.
Status AddStagedObjects(git_odb* odb, const std::filesystem::path& mirror_dir);

// Names ("pack-<hash>") of the complete packs (.pack and .idx) in the staging area of
// `mirror_dir`; empty when it has none or no staging repository.
Result<std::vector<std::string>> StagedPacks(const std::filesystem::path& mirror_dir);

// Rewrites the staging area of `mirror_dir` to hold only what `wanted_tips` (40-hex oids,
// the ref set about to be published) reach beyond `published_tips` (the mirror's refs):
// one `git pack-objects --revs --local` pack, the older staged packs removed. For a fetch
// that follows an unpublished one: objects staged then but no longer wanted (the upstream
// rewrote them away) would otherwise move into the mirror with the next publication and be
// fetchable by SHA there. On failure the staging area still holds at least what it held
// (old packs are removed only after the new one is complete). Cost: proportional to what
// is staged, not to the published history.
Status CompactStagedObjects(const std::filesystem::path& mirror_dir,
                            const std::vector<std::string>& wanted_tips,
                            const std::vector<std::string>& published_tips);

// One publication's move of the staged objects into the mirror (steps 2, 3 and 5 of the file
// comment; the caller owns steps 1 and 4).
class StagedObjectMigration {
 public:
  // Moves every staged pack and loose object of `mirror_dir` into the mirror's object
  // directory, durably, journalled first. Files the mirror already has (same name, so same
  // content) are not moved. On success the mirror holds all staged objects. On failure
  // the files moved so far have been moved back (best effort; the journal stays if that
  // failed too, for recovery) and the Status says why.
  static Result<StagedObjectMigration> Start(const std::filesystem::path& mirror_dir);

  // After the refs were published: drops the journal and the staging copies the mirror
  // already had. Failures are reported but harmless (recovery finishes the job).
  Status Finish();

  // When the refs could not be published after Start: moves the files back to staging and
  // drops the journal.
  Status Undo();

  // Number of files moved into the mirror.
  size_t moved() const { return moved_.size(); }

 private:
  StagedObjectMigration() = default;
  std::filesystem::path mirror_dir_;
  std::vector<std::filesystem::path> moved_;       // relative to objects/, in move order
  std::vector<std::filesystem::path> duplicates_;  // staging copies of files the mirror has
};

// Crash recovery of the staging area of `mirror_dir` (called by
// MirrorRepository::RecoverAfterCrash BEFORE it removes the mirror's stale locks and pack
// garbage, since the journal's fate depends on packed-refs.lock): settles an interrupted
// migration as the file comment says, and removes incomplete staging directories. Appends
// what it moved back or removed to `touched`. A mirror without staging is not an error.
Status RecoverStagingAfterCrash(const std::filesystem::path& mirror_dir,
                                std::vector<std::filesystem::path>& touched);

// Test seam: when set, PublishRefs calls it between the migration (step 3) and the rename of
// packed-refs.lock (step 4). Crash tests make it end the process there. Not thread-safe;
// set it before any publication starts.
void SetAfterMigrationHookForTesting(std::function<void()> hook);
void RunAfterMigrationHookForTesting();

}  // namespace mirrord
