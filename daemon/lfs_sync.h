// LfsSyncer: the LFS phase of a sync and the pull-through fetch of the LFS server. It
// finds the pointers the refs about to be published need (git/lfs_pointer_scan.h, with a
// per-mirror cache so only new trees are read), records the objects in the catalog,
// downloads those the store lacks (lfs/object_downloader.h: resumable, several connections,
// SHA-256 verified) and returns the references to publish with the refs.
//
// Publication rule: the refs are published only when every object they need (and the repo's
// filters allow) is in the store, except objects the upstream itself says it does not have
// (per-object 404/410/422): those are recorded as failed and shown in status, and do not
// hold the mirror back forever. Any other failure (network, disk full, repeated hash
// mismatch, cancel) fails the phase: the previously published refs keep being served and
// the objects stay pending, their durable bytes kept for the next attempt.
//
// Shared objects: two syncs (or a sync and a pull-through, or two nodes) that need the same
// oid never both fetch it and never fail for it: the later one waits for the earlier one
// (notified by the blob store) and finds the object present.
// A corrupting upstream: an object whose fetches fail verification in two syncs in a row
// backs off ([lfs] corrupt_backoff, doubling up to corrupt_backoff_max; kept in the catalog), so
// polls do not refetch it at poll speed; meanwhile the phase fails at once with a message
// that says so and when the next try is (what `mirrorctl status` shows as the error).
// Threads: downloads run on one DownloadPool of [lfs] download_threads for all syncs.
// Garbage collection: the objects the refs need are pinned in the catalog before the store
// is looked at (LfsSyncOutcome::pin), so a sweep either kept them or removed them before the
// look, and they are fetched again (storage/lfs_gc.h).
// Thread-safety: thread-safe; syncs of different repos run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "daemon/metrics.h"
#include "git/lfs_pointer_scan.h"
#include "git/ref_publisher.h"
#include "http/host_limiter.h"
#include "lfs/download_pool.h"
#include "lfs/object_downloader.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

struct LfsSyncRequest {
  std::string repo_name;
  std::filesystem::path repo_dir;
  std::vector<PublishedRef> refs;  // the ref set about to be published
  std::string clone_url;           // the upstream's git URL (the LFS endpoint derives from it)
  std::string token;               // empty: anonymous
  LfsPolicy policy;
  std::chrono::seconds stall_timeout{60};
  const std::atomic<bool>* cancel = nullptr;
  // Called with the LFS counters of SyncProgress filled (other fields untouched).
  std::function<void(const SyncProgress&)> on_progress;
};

struct LfsSyncOutcome {
  std::vector<LfsRefRecord> references;  // to publish with the refs
  uint64_t objects = 0;                  // distinct objects the refs reference
  uint64_t bytes = 0;
  uint64_t objects_fetched = 0;           // downloaded by this phase
  uint64_t bytes_fetched = 0;             // network bytes received
  uint64_t objects_missing_upstream = 0;  // per-object 404/410/422: published without them
  // Pins the referenced objects against garbage collection (storage/lfs_gc.h) until the last
  // copy is dropped: keep it until the references are published (or the sync gave up).
  std::shared_ptr<const void> pin;
};

class LfsSyncer {
 public:
  // `catalog` and `store` must outlive the syncer.
  LfsSyncer(const LfsConfig& config, Catalog& catalog, BlobStore& store,
            const Clock& clock = SystemClock::Instance());

  // The LFS phase for one sync; see the file comment for what success means.
  Result<LfsSyncOutcome> SyncObjects(const LfsSyncRequest& request);

  // Fetches one referenced object into the store for a client (pull-through). OK when it is
  // present (already, or now). A call that finds another download of the oid running waits
  // for it (up to [lfs] pull_through_timeout; woken when it ends, no polling) instead of
  // starting a second one. Unavailable while the object backs off after corruption.
  Status FetchOne(const std::string& clone_url, const std::string& token,
                  const LfsRefRecord& reference, std::chrono::seconds stall_timeout);

  // Cancels pull-through fetches in progress (they keep their durable bytes) and refuses
  // new ones: for shutdown. Sync phases are cancelled through their own flag.
  void Stop() { stopping_.store(true); }

  // The blob store's physical size (shared by every repo).
  Result<BlobStore::Usage> StoreUsage() const { return store_.ComputeUsage(); }

  // Forgets the scan cache of a removed repo.
  void ForgetRepo(std::string_view name);

  // Reports the quarantine's size and drops to `metrics` from now on (and once now).
  void AttachMetrics(Metrics* metrics);

 private:
  int64_t Now() const { return ToUnixSeconds(clock_.Now()); }
  // The catalog's backoff for `oid`: an error saying until when, or OK to fetch it now.
  Status CheckCorruptBackoff(const std::string& oid);
  // After a download: records quarantines and corruption, and refreshes the metrics.
  void RecordVerification(const LfsDownloadReport& report);
  void UpdateQuarantineMetrics();

  const LfsConfig config_;
  Catalog& catalog_;
  BlobStore& store_;
  const Clock& clock_;
  HostConnectionLimiter limiter_;
  DownloadPool pool_;
  std::atomic<bool> stopping_{false};
  std::mutex metrics_mu_;
  Metrics* metrics_ = nullptr;     // guarded by metrics_mu_
  uint64_t reported_dropped_ = 0;  // guarded by metrics_mu_
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<LfsScanCache>, std::less<>> caches_;  // guarded by mu_
};

}  // namespace mirrord
