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
  explicit ProgressTracker(const std::function<void(const SyncProgress&)>& sink) : sink_(sink) {}

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

 private:
  void Emit() {
    if (sink_) sink_(progress_);
  }
  const std::function<void(const SyncProgress&)>& sink_;
  SyncProgress progress_;
  std::chrono::steady_clock::time_point last_sample_ = std::chrono::steady_clock::now();
  uint64_t last_bytes_ = 0;
  double rate_ = 0;
};

}  // namespace

Result<RepoSyncResult> SyncRepository(const RepoSyncRequest& request) {
  ProgressTracker progress(request.on_progress);
  progress.Phase("connecting");
  RETURN_IF_ERROR(MirrorRepository::CreateOrOpen(request.repo_dir));

  FetchOptions fetch;
  fetch.url = request.url;
  fetch.refspecs = request.refspecs;
  fetch.token = request.token;
  fetch.stall_timeout = request.stall_timeout;
  fetch.cancel = request.cancel;
  fetch.on_progress = [&](const FetchProgress& p) { progress.Transfer(p); };
  ASSIGN_OR_RETURN(FetchResult fetched, FetchMirror(request.repo_dir, fetch));

  progress.Phase("verifying");
  ASSIGN_OR_RETURN(std::vector<PublishedRef> published, ReadPublishedRefs(request.repo_dir));
  RETURN_IF_ERROR(CheckConnectivity(request.repo_dir, fetched.refs, published));

  std::optional<LfsSyncOutcome> lfs;
  if (request.lfs_phase) {
    // "lfs" (with its counters) starts once the scan knows what to fetch; until then a
    // client would see "0/0 objects" for the whole scan.
    progress.Phase("lfs-scan");
    ASSIGN_OR_RETURN(lfs, request.lfs_phase(fetched.refs, [&progress](const SyncProgress& p) {
      progress.Lfs(p);
    }));
  }

  progress.Phase("publishing");
  ASSIGN_OR_RETURN(RefUpdateSummary summary,
                   PublishRefs(request.repo_dir, fetched.refs, fetched.head));

  RepoSyncResult result;
  result.refs = std::move(fetched.refs);
  result.head = fetched.head;
  result.refs_added = summary.added;
  result.refs_updated = summary.updated;
  result.refs_deleted = summary.deleted;
  result.received_bytes = fetched.received_bytes;
  result.received_objects = fetched.received_objects;
  result.lfs = std::move(lfs);
  if (request.on_published) RETURN_IF_ERROR(request.on_published(result));

  if (request.maintenance &&
      (summary.added + summary.updated + summary.deleted > 0 || fetched.received_objects > 0)) {
    progress.Phase("maintenance");
    if (Status s = RunMaintenance(request.repo_dir); !s.ok()) {
      // Serving still works without bitmaps, only slower: report, don't fail the sync.
      result.maintenance_error = s.ToString();
    }
  }
  progress.Phase("done");
  return result;
}

}  // namespace mirrord
