// RepoSync: one sync of one repository, start to finish: open (or create) the bare
// mirror, fetch into the hidden staging namespace, verify it, run the LFS phase (the objects
// the new refs need), publish the new ref set atomically, then run serving maintenance.
// Knows nothing of queues or the catalog.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/api_types.h"
#include "common/status.h"
#include "daemon/lfs_sync.h"
#include "git/ref_publisher.h"

namespace mirrord {

struct RepoSyncResult;

struct RepoSyncRequest {
  std::filesystem::path repo_dir;
  std::string url;    // may hold no credentials; the token goes separately
  std::string token;  // empty: anonymous
  std::vector<std::string> refspecs;
  std::chrono::seconds stall_timeout{60};
  bool maintenance = true;
  const std::atomic<bool>* cancel = nullptr;
  // Called from the syncing thread with the phase and transfer counters.
  std::function<void(const SyncProgress&)> on_progress;
  // The LFS phase: given the verified ref set about to be published, makes the LFS objects
  // it needs present, reporting LFS counters through the callback. Its failure fails the
  // sync before anything is published. Empty: the repo has no LFS phase.
  std::function<Result<LfsSyncOutcome>(const std::vector<PublishedRef>& refs,
                                       const std::function<void(const SyncProgress&)>& progress)>
      lfs_phase;
  // Called right after the new refs are published (git clients see them), before
  // maintenance, with the result so far; e.g. to record them in the catalog, which is what
  // makes the new LFS objects servable. An error fails the sync (maintenance is skipped).
  std::function<Status(const RepoSyncResult&)> on_published;
};

struct RepoSyncResult {
  std::vector<PublishedRef> refs;  // the set now published
  std::string head;                // e.g. "refs/heads/main"
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
  uint64_t received_bytes = 0;
  uint64_t received_objects = 0;
  std::string maintenance_error;      // maintenance failures do not fail the sync
  std::optional<LfsSyncOutcome> lfs;  // set when the LFS phase ran
};

// On success the mirror's published refs equal the upstream's (per the refspecs) and the
// result says what changed. On failure the previously published refs are untouched and
// still served; the Status says why (its message never contains the token).
Result<RepoSyncResult> SyncRepository(const RepoSyncRequest& request);

}  // namespace mirrord
