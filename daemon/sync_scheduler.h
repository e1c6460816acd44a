// SyncScheduler: mirrord's implementation of SyncService on top of a durable JobQueue
// (storage/job_queue.h: SQLite embedded, or Redis shared by several nodes). A request
// records a run in the catalog and queues a job; the queue keeps at most one sync per
// repository running anywhere, coalesces requests into exactly one follow-up, orders
// manual and webhook work before polls and retries, and limits syncs per upstream host. A
// dispatcher thread claims jobs while this node has fewer than [sync] concurrency running,
// renews their leases, and requeues the jobs of dead nodes. A failed sync is retried with
// exponential backoff and jitter ([sync] retry_*); an upstream answering 429 (or 403 with
// its rate limit exhausted) pauses that host for everyone. Also knows which mirrors are
// servable (published at least once).
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/lfs_sync.h"
#include "daemon/metrics.h"
#include "daemon/sync_service.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

class SyncScheduler final : public SyncService {
 public:
  // `queue`, `lfs` (may be null: no LFS phase) and the rest must outlive the scheduler.
  // `node_id` names this node in the queue (leases, restart recovery).
  SyncScheduler(const Config& config, Catalog& catalog, JobQueue& queue, std::string node_id,
                Metrics& metrics, LfsSyncer* lfs, const Clock& clock = SystemClock::Instance());
  ~SyncScheduler() override;

  // Recovers from an unclean stop: this node's running jobs go back to the queue (their
  // runs continue under the same id), runs the queue no longer knows are marked
  // interrupted, stale locks in every mirror are removed, and already published mirrors
  // become servable. Registers the [[repos]] of the config, queues a sync for those never
  // synced, and starts dispatching.
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
  Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) override;
  Result<SyncRunView> GetRun(int64_t run_id) override;
  Result<std::vector<RepoStatus>> ListRepos() override;
  Result<QueueView> GetQueue() override;
  Result<RepoStatus> GetRepoStatus(std::string_view name) override;
  Status RemoveRepo(std::string_view name) override;

  // Queued and running jobs of every node, and the upstream hosts paused right now.
  Result<std::vector<QueuedJob>> ListJobs();
  Result<std::vector<PausedHost>> ListPausedHosts();
  // Records what the upstream said about the repository `name` (webhooks).
  Status RecordUpstreamEvent(std::string_view name, std::string_view event);
  // Compares the upstream's ref advertisement with the published refs of `name` (one
  // request, no fetch): true when a sync would change something. A rate-limited upstream
  // host is paused as for syncs.
  Result<bool> UpstreamChanged(std::string_view name);
  // The mirrored repos whose upstream is any of `urls` (a webhook payload's clone_url,
  // html_url, ...), compared without scheme, credentials, ".git" suffix, trailing '/' or
  // case (GitHub names are case-insensitive).
  Result<std::vector<std::string>> FindReposOfUpstream(const std::vector<std::string>& urls);
  // True when `name` has a queued or running job (polls skip such repos).
  bool HasPendingWork(std::string_view name);
  // When the poller will next look at `name` (unix seconds; 0: not planned). Set by the
  // poller, shown in status.
  void SetNextPoll(std::string_view name, int64_t unix_seconds);

 private:
  // A job this node is running.
  struct LocalRun {
    std::string repo;
    std::shared_ptr<std::atomic<bool>> cancel;
  };

  void DispatchLoop();
  // Renews the leases of this node's jobs (cancelling those it lost) and requeues the jobs
  // of nodes whose lease ended.
  void KeepLeases();
  void ExecuteRun(QueuedJob job, std::shared_ptr<std::atomic<bool>> cancel);
  // After a failed run: pause the host on a rate limit, queue a retry with backoff.
  void AfterFailure(const QueuedJob& job, const Status& outcome, int64_t repo_id);
  std::chrono::milliseconds RetryDelay(int attempt);
  Result<std::string> UpstreamUrl(const RepoRecord& repo) const;
  const std::vector<std::string>& RefspecsFor(std::string_view name) const;
  std::string UpstreamToken(const RepoRecord& repo) const;
  // `store_physical_bytes`: StorePhysicalBytes(), computed once per answer (it walks the store).
  // `jobs`: the queue's List(), also read once per answer.
  Result<RepoStatus> BuildStatus(const RepoRecord& repo, uint64_t store_physical_bytes,
                                 const std::vector<QueuedJob>& jobs);
  // The LFS blob store's size on disk (0 without LFS or when it cannot be read).
  uint64_t StorePhysicalBytes() const;
  void RefreshRepoGauges();
  // mirrord_store_bytes: a repo's mirror is measured at start and after each of its syncs
  // (one small walk), the LFS store after an LFS phase or a pull-through fetch.
  void MeasureRepoDisk(const std::string& name);
  void MeasureLfsStoreDisk();
  int64_t Now() const { return ToUnixSeconds(clock_.Now()); }

  int64_t NowMs() const;
  void Wake();

  const Config& config_;
  Catalog& catalog_;
  JobQueue& queue_;
  const std::string node_id_;
  Metrics& metrics_;
  LfsSyncer* const lfs_;
  const Clock& clock_;
  boost::asio::thread_pool workers_;
  std::thread dispatcher_;

  mutable std::mutex mu_;
  std::condition_variable run_finished_;
  std::condition_variable wake_;
  bool wake_requested_ = false;
  std::map<int64_t, LocalRun> local_runs_;    // run id -> job running on this node
  std::map<int64_t, SyncRunView> live_runs_;  // running here, with live progress
  mutable std::set<std::string> servable_;    // cache of "published at least once"
  std::map<std::string, int64_t> next_poll_;  // repo -> unix seconds
  std::mt19937_64 rng_;                       // retry jitter
  int running_ = 0;
  std::map<std::string, uint64_t> repo_disk_bytes_;  // repo -> bytes of its mirror on disk
  uint64_t repo_disk_bytes_total_ = 0;               // sum of repo_disk_bytes_
  bool started_ = false;
  bool shutting_down_ = false;
};

}  // namespace mirrord
