#include "daemon/repo_sync.h"

#include "common/log.h"
#include "git/connectivity_check.h"
#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/repo_maintenance.h"

namespace mirrord {
namespace {

// Turns raw transfer counters into SyncProgress with a smoothed rate.
class ProgressTracker {
 public:
  explicit ProgressTracker(SyncSteps& sink) : sink_(sink) {}

  void Phase(std::string phase) {
    progress_.phase = std::move(phase);
    Emit();
  }

  void Transfer(const FetchProgress& p) {
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last_sample_).count();
    if (dt >= 0.5) {
      double instant = static_cast<double>(p.received_bytes - last_bytes_) / dt;
      // Exponential smoothing keeps the displayed rate steady without hiding a stall.
      rate_ = rate_ == 0 ? instant : 0.7 * rate_ + 0.3 * instant;
      last_sample_ = now;
      last_bytes_ = p.received_bytes;
    }
    progress_.phase = "fetching";
    transfer_started_ = true;
    progress_.received_objects = p.received_objects;
    progress_.total_objects = p.total_objects;
    progress_.indexed_objects = p.indexed_objects;
    progress_.received_bytes = p.received_bytes;
    progress_.bytes_per_second = rate_;
    Emit();
  }

  void Lfs(const SyncProgress& p) {
    progress_.phase = "lfs";
    progress_.lfs_objects_total = p.lfs_objects_total;
    progress_.lfs_objects_done = p.lfs_objects_done;
    progress_.lfs_bytes_total = p.lfs_bytes_total;
    progress_.lfs_bytes_done = p.lfs_bytes_done;
    progress_.lfs_bytes_per_second = p.lfs_bytes_per_second;
    Emit();
  }

  // Whether the upstream has sent anything yet (a fetch failing before is a connect failure).
  bool transfer_started() const { return transfer_started_; }

 private:
  void Emit() { sink_.OnProgress(progress_); }
  SyncSteps& sink_;
  bool transfer_started_ = false;
  SyncProgress progress_;
  std::chrono::steady_clock::time_point last_sample_ = std::chrono::steady_clock::now();
  uint64_t last_bytes_ = 0;
  double rate_ = 0;
};

}  // namespace

RepoSyncOutcome SyncRepository(const RepoSyncRequest& request, SyncSteps& steps) {
  RepoSyncOutcome out;
  auto fail = [&out](FailurePhase phase, Status status) {
    out.failed_phase = phase;
    out.status = std::move(status);
    return std::move(out);
  };
  ProgressTracker progress(steps);
  progress.Phase("connecting");
  if (Status s = MirrorRepository::CreateOrOpen(request.repo_dir); !s.ok()) {
    return fail(FailurePhase::kConnect, s);
  }

  FetchOptions fetch;
  fetch.url = request.url;
  fetch.refspecs = request.refspecs;
  fetch.token = request.token;
  fetch.stall_timeout = request.stall_timeout;
  fetch.cancel = request.cancel;
  fetch.on_progress = [&](const FetchProgress& p) { progress.Transfer(p); };
  Result<FetchResult> fetched = FetchMirror(request.repo_dir, fetch);
  if (!fetched.ok()) {
    return fail(progress.transfer_started() ? FailurePhase::kFetch : FailurePhase::kConnect,
                fetched.status());
  }

  progress.Phase("verifying");
  Result<std::vector<PublishedRef>> published = ReadPublishedRefs(request.repo_dir);
  if (!published.ok()) return fail(FailurePhase::kVerify, published.status());
  if (Status s = CheckConnectivity(request.repo_dir, fetched->refs, *published); !s.ok()) {
    return fail(FailurePhase::kVerify, s);
  }

  std::optional<LfsSyncOutcome> lfs;
  if (steps.HasLfsPhase()) {
    // "lfs" (with its counters) starts once the scan knows what to fetch; until then a
    // client would see "0/0 objects" for the whole scan.
    progress.Phase("lfs-scan");
    Result<LfsSyncOutcome> synced =
        steps.SyncLfs(fetched->refs, [&progress](const SyncProgress& p) { progress.Lfs(p); });
    if (!synced.ok()) return fail(FailurePhase::kLfs, synced.status());
    lfs = std::move(*synced);
  }

  progress.Phase("publishing");
  Result<RefUpdateSummary> summary = PublishRefs(request.repo_dir, fetched->refs, fetched->head,
                                                 [&steps] { return steps.ConfirmOwnership(); });
  if (!summary.ok()) return fail(FailurePhase::kPublish, summary.status());

  RepoSyncResult& result = out.result;
  result.refs = std::move(fetched->refs);
  result.head = fetched->head;
  result.refs_added = summary->added;
  result.refs_updated = summary->updated;
  result.refs_deleted = summary->deleted;
  result.received_bytes = fetched->received_bytes;
  result.received_objects = fetched->received_objects;
  result.lfs = std::move(lfs);
  if (Status s = steps.OnPublished(result); !s.ok()) return fail(FailurePhase::kPublish, s);

  if (request.maintenance &&
      (summary->added + summary->updated + summary->deleted > 0 || fetched->received_objects > 0)) {
    progress.Phase("maintenance");
    if (Status s = RunMaintenance(request.repo_dir); !s.ok()) {
      // Serving still works without bitmaps, only slower: report, don't fail the sync.
      result.maintenance_error = s.ToString();
    }
  }
  progress.Phase("done");
  return out;
}

}  // namespace mirrord
