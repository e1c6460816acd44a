// SyncScheduler: the in-process implementation of SyncService. Keeps at most one sync per
// repository running, coalesces requests that arrive meanwhile into exactly one follow-up,
// runs syncs on a bounded worker pool ([sync] concurrency), and records every run in the
// catalog. Also knows which mirrors are servable (published at least once).
//
// Queued work is held in memory and marked interrupted on restart; the durable queue
// (SQLite or Redis) replaces this behind the same SyncService interface.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/lfs_sync.h"
#include "daemon/metrics.h"
#include "daemon/sync_service.h"
#include "storage/catalog.h"

namespace mirrord {

class SyncScheduler final : public SyncService {
 public:
  // `lfs` (may be null: no LFS phase) must outlive the scheduler.
  SyncScheduler(const Config& config, Catalog& catalog, Metrics& metrics, LfsSyncer* lfs,
                const Clock& clock = SystemClock::Instance());
  ~SyncScheduler() override;

  // Recovers from an unclean stop: runs left running are marked interrupted, stale locks in
  // every mirror are removed, and already published mirrors become servable. Registers
  // the [[repos]] of the config and queues a sync for those never synced.
  Status Start();

  // Stops taking requests and cancels running syncs (their partial fetches stay for next
  // time) without waiting: their runs end "interrupted" within the cancel poll interval.
  void BeginShutdown();
  // BeginShutdown(), then waits for the workers.
  void Shutdown();

  // Fetches an LFS object the repo `name` references from its upstream into the store, for
  // a client asking for it (the LFS server's pull-through). Blocks until done.
  Status FetchLfsObject(std::string_view name, const LfsRefRecord& reference);

  // The bare mirror to serve for `name`, if it has been published at least once.
  std::optional<std::filesystem::path> ServableRepoDir(std::string_view name) const;

  Result<RepoStatus> RegisterRepo(const RepoSpec& spec) override;
  Result<int64_t> RequestSync(std::string_view name, SyncTrigger trigger) override;
  Result<SyncRunView> GetRun(int64_t run_id) override;
  Result<std::vector<RepoStatus>> ListRepos() override;
  Result<RepoStatus> GetRepoStatus(std::string_view name) override;
  Status RemoveRepo(std::string_view name) override;

 private:
  struct RepoSlot {
    int64_t running_run = 0;  // 0: none
    int64_t queued_run = 0;   // the one coalesced follow-up, 0: none
    std::shared_ptr<std::atomic<bool>> cancel;
  };

  void StartRunLocked(const std::string& name, int64_t run_id);
  void ExecuteRun(const std::string& name, int64_t run_id,
                  std::shared_ptr<std::atomic<bool>> cancel);
  Result<std::string> UpstreamUrl(const RepoRecord& repo) const;
  std::string UpstreamToken(const RepoRecord& repo) const;
  // `store_physical_bytes`: StorePhysicalBytes(), computed once per answer (it walks the store).
  Result<RepoStatus> BuildStatus(const RepoRecord& repo, uint64_t store_physical_bytes);
  // The LFS blob store's size on disk (0 without LFS or when it cannot be read).
  uint64_t StorePhysicalBytes() const;
  void RefreshRepoGauges();
  int64_t Now() const { return ToUnixSeconds(clock_.Now()); }

  const Config& config_;
  Catalog& catalog_;
  Metrics& metrics_;
  LfsSyncer* const lfs_;
  const Clock& clock_;
  boost::asio::thread_pool workers_;

  mutable std::mutex mu_;
  std::condition_variable run_finished_;
  std::map<std::string, RepoSlot> slots_;     // repos with queued or running work
  std::map<int64_t, SyncRunView> live_runs_;  // queued or running, with live progress
  std::set<std::string> servable_;
  int running_ = 0;
  bool shutting_down_ = false;
};

}  // namespace mirrord
