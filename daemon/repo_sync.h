// RepoSync: one sync of one repository, start to finish: open (or create) the bare
// mirror, fetch into the hidden staging namespace, verify it, run the LFS phase (the objects
// the new refs need), publish the new ref set atomically, then run serving maintenance.
// Knows nothing of queues or the catalog: what belongs to the caller (progress, the LFS
// phase, recording what was published) goes through one interface, SyncSteps, implemented by
// the run executor (daemon/sync_run_executor.h).
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

// The caller's side of a sync. SyncRepository calls these from the syncing thread, in step
// order; none is called after SyncRepository returns.
class SyncSteps {
 public:
  virtual ~SyncSteps() = default;
  // The phase and transfer counters, whenever they change.
  virtual void OnProgress(const SyncProgress& progress) = 0;
  // Whether the repo has an LFS phase.
  virtual bool HasLfsPhase() const = 0;
  // The LFS phase: given the verified ref set about to be published, makes the LFS objects
  // it needs present, reporting LFS counters through `progress`. Its failure fails the sync
  // before anything is published.
  virtual Result<LfsSyncOutcome> SyncLfs(
      const std::vector<PublishedRef>& refs,
      const std::function<void(const SyncProgress&)>& progress) = 0;
  // The fence, called by PublishRefs under the mirror's packed-refs.lock right before the
  // rename that publishes the new refs: OK while this node still owns the sync. A failure
  // fails the sync (phase "publish") with nothing published.
  virtual Status ConfirmOwnership() = 0;
  // Called right after the new refs are published (git clients see them), before
  // maintenance, with the result so far: records them in the catalog, which is what makes
  // the new LFS objects servable. An error fails the sync (phase "publish"; maintenance is
  // skipped).
  virtual Status OnPublished(const RepoSyncResult& result) = 0;
};

struct RepoSyncRequest {
  std::filesystem::path repo_dir;
  std::string url;    // may hold no credentials; the token goes separately
  std::string token;  // empty: anonymous
  std::vector<std::string> refspecs;
  std::chrono::seconds stall_timeout{60};
  bool maintenance = true;
  const std::atomic<bool>* cancel = nullptr;
};

// What one sync ended with: `result` when `status` is OK, else the step that failed.
struct RepoSyncOutcome {
  Status status;
  // The step that failed (meaningful when !status.ok()): kConnect for opening the mirror
  // and for a fetch that failed before the upstream sent anything, kFetch for a transfer
  // that had started, kVerify, kLfs, kPublish.
  FailurePhase failed_phase = FailurePhase::kConnect;
  RepoSyncResult result;
};

// On success the mirror's published refs equal the upstream's (per the refspecs) and the
// result says what changed. On failure the previously published refs are untouched and
// still served (unless OnPublished failed: then git serves the new refs, the catalog the
// old ones); the Status says why (its message never contains the token).
RepoSyncOutcome SyncRepository(const RepoSyncRequest& request, SyncSteps& steps);

}  // namespace mirrord
