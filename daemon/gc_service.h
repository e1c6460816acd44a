// GcService: garbage collection of the whole node, on demand (`mirrorctl gc`, the admin API's
// POST /api/v1/gc) and every [gc] interval: the LFS store's mark and sweep
// (storage/lfs_gc.h, whose header says how a sync racing the sweep is kept safe) and the
// pruning of unreachable loose objects of every mirror (git/repo_maintenance.h), both past
// the same grace. `mirrorctl remove --purge` (Purge) removes a repo and at once (no grace)
// sweeps its LFS objects that no other repo, image or sync references.
//
// After a sweep removed objects, `on_swept` runs (main.cc drops the HF endpoint's cached
// "in the store" answers with it).
// Thread-safety: Run and Purge may be called from any thread; collections are serialised
// (a second waits for the first). Start/Stop from the owning thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "daemon/gc_metrics.h"
#include "daemon/sync_service.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"
#include "storage/lfs_gc.h"

namespace mirrord {

struct GcRequest {
  bool dry_run = false;
  std::optional<std::chrono::seconds> grace;  // unset: [gc] grace
};

// What one mirror's prune removed (or would), or why it was skipped or failed.
struct GitPruneOutcome {
  std::string repo;
  uint64_t objects = 0;
  uint64_t bytes = 0;
  std::string skipped;  // "" unless skipped (e.g. "syncing")
  std::string error;    // "" unless the prune failed
};

struct GcOutcome {
  bool dry_run = false;
  int64_t grace_seconds = 0;
  std::string purged;  // the repo Purge removed; "" for a collection
  LfsGcReport lfs;
  std::vector<GitPruneOutcome> git;
  uint64_t git_objects = 0;
  uint64_t git_bytes = 0;
};

// The JSON of the admin API's answer (README, "mirrorctl gc --json"): at most
// `max_listed` swept objects are listed (all are counted).
std::string GcOutcomeJson(const GcOutcome& outcome, size_t max_listed = 10000);

class GcService {
 public:
  // Everything passed must outlive the service.
  GcService(LiveConfig& live, Catalog& catalog, BlobStore& store, SyncService& repos,
            GcMetrics* metrics, const Clock& clock, std::function<void()> on_swept);
  ~GcService();
  GcService(const GcService&) = delete;
  GcService& operator=(const GcService&) = delete;

  // One collection. On success what was (dry run: would be) removed. On failure (catalog,
  // disk) what was removed before stays removed; mirrors whose prune failed are reported in
  // the outcome, not as a failure.
  Result<GcOutcome> Run(const GcRequest& request);
  // Removes repo `name` (SyncService::RemoveRepo: its mirror goes) and sweeps at once the LFS
  // objects it referenced that nothing else references. NotFound for an unknown repo; the
  // removal's own errors otherwise (nothing swept then).
  Result<GcOutcome> Purge(std::string_view name);

  // Starts the scheduled collection every [gc] interval (read each time: a reload applies).
  void Start();
  void Stop();

 private:
  int64_t Now() const { return ToUnixSeconds(clock_.Now()); }
  void Record(const Result<GcOutcome>& outcome);
  void Loop();

  LiveConfig& live_;
  Catalog& catalog_;
  BlobStore& store_;
  SyncService& repos_;
  GcMetrics* metrics_;
  const Clock& clock_;
  std::function<void()> on_swept_;
  std::mutex run_mu_;  // one collection at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mirrord
