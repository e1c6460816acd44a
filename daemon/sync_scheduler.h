// SyncScheduler: mirrord's sync machinery, assembled. It wires the named pieces together
// and is what the rest of the daemon talks to (as SyncService for the admin API,
// PollTarget for the poller, WebhookTarget for webhooks):
//   RepoRegistry     (daemon/repo_registry.h)     what is mirrored, from where
//   JobDispatcher    (daemon/job_dispatcher.h)    claim, leases, retry/backoff, host pauses
//   SyncRunExecutor  (daemon/sync_run_executor.h) performs one sync and keeps its books
//   StatusView       (daemon/status_view.h)       runs, repo status, the queue
//   ServableRepos    (daemon/servable_repos.h)    the serving gate
//   StoreGauges      (daemon/store_gauges.h)      disk and repo-state gauges
//   BuildJobs        (daemon/build_jobs.h)        queueing builds (requested, or after a
//                                                 sync published a new commit)
//   PushJobs         (daemon/push_jobs.h)         queueing pushes (requested, or after a
//                                                 build succeeded)
//   JobRunnerByKind  (daemon/job_runner_by_kind.h) syncs to the executor, builds and pushes
//                                                 to the runners the daemon passes
// Itself it does what spans them: start-up recovery, queueing a requested sync (a catalog
// run plus a queue job, coalesced), removing a repo, and the poller's change check.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/build_jobs.h"
#include "daemon/config_reconciler.h"
#include "daemon/github_webhook_handler.h"
#include "daemon/job_dispatcher.h"
#include "daemon/job_runner_by_kind.h"
#include "daemon/lfs_sync.h"
#include "daemon/live_runs.h"
#include "daemon/metrics.h"
#include "daemon/push_jobs.h"
#include "daemon/repo_registry.h"
#include "daemon/servable_repos.h"
#include "daemon/status_view.h"
#include "daemon/store_gauges.h"
#include "daemon/sync_run_executor.h"
#include "daemon/sync_service.h"
#include "daemon/upstream_poller.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

class SyncScheduler final : public SyncService, public PollTarget, public WebhookTarget {
 public:
  // `config`, `queue`, `lfs` (may be null: no LFS phase) and the rest must outlive the
  // scheduler. `node_id` names this node in the queue (leases, restart recovery). Storage
  // paths come from `config`'s snapshot at construction (they cannot change live); the rest
  // is read from its current snapshot when used.
  // `build_runner` runs build jobs and `push_runner` push jobs (null: such a job claimed
  // here fails retryably, see JobRunnerByKind).
  SyncScheduler(const LiveConfig& config, Catalog& catalog, JobQueue& queue, std::string node_id,
                Metrics& metrics, LfsSyncer* lfs, const Clock& clock = SystemClock::Instance(),
                JobRunner* build_runner = nullptr, JobRunner* push_runner = nullptr);
  ~SyncScheduler() override;

  // Recovers from an unclean stop: this node's running jobs go back to the queue (their
  // runs continue under the same id), runs the queue no longer knows are marked
  // interrupted, stale locks in every mirror are removed, and already published mirrors
  // become servable. Reconciles the catalog with the [[repos]] of the config (Reconcile),
  // and starts dispatching.
  Status Start();

  // Brings the catalog in line with `config`'s [[repos]] (daemon/config_reconciler.h) and
  // deletes repos retired longer than [sync] retired_retention. Called by Start() and, after
  // the new config is published, by a reload. Running syncs are not touched.
  Result<ReconcileReport> Reconcile(const Config& config);

  // Stops taking requests and cancels running syncs (their partial fetches stay for next
  // time) without waiting: their runs end "interrupted" within the cancel poll interval.
  void BeginShutdown();
  // BeginShutdown(), then waits for the workers.
  void Shutdown();

  // Fetches an LFS object the repo `name` references from its upstream into the store, for
  // a client asking for it (the LFS server's pull-through). Blocks until done.
  Status FetchLfsObject(std::string_view name, const LfsRefRecord& reference);

  // The serving gate (git and LFS handlers ask it which mirror to serve).
  const ServableRepos& servable() const { return servable_; }

  // Queueing build jobs (the build endpoint's POST).
  BuildJobs& builds() { return builds_; }
  // Queueing push jobs (the push endpoint's POST; the build runner after each build).
  PushJobs& pushes() { return pushes_; }

  // SyncService
  Result<RepoStatus> RegisterRepo(const RepoSpec& spec) override;
  Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) override;
  Result<SyncRunView> GetRun(int64_t run_id) override;
  Result<std::vector<RepoStatus>> ListRepos() override;
  Result<QueueView> GetQueue() override;
  Result<RepoStatus> GetRepoStatus(std::string_view name) override;
  Status RemoveRepo(std::string_view name) override;

  // PollTarget
  Result<std::vector<std::string>> RepoNames() override;
  bool HasPendingWork(std::string_view name) override;
  Result<bool> ClaimPoll(std::string_view name, int64_t now_ms, int64_t hold_ms) override;
  // One ref advertisement request, no fetch. A rate-limited upstream host is paused as for
  // syncs.
  Result<bool> UpstreamChanged(std::string_view name) override;
  void SetNextPoll(std::string_view name, int64_t unix_seconds) override;

  // WebhookTarget
  Result<bool> RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                              int64_t keep_ms) override;
  Result<std::vector<std::string>> FindReposOfUpstream(
      const std::vector<std::string>& urls) override;
  Status RecordUpstreamEvent(std::string_view name, std::string_view event) override;

 private:
  // Start's first half: the queue's and the catalog's view of runs interrupted by a stop,
  // and the mirrors' leftovers.
  Status Recover();
  int64_t Now() const { return ToUnixSeconds(clock_.Now()); }
  int64_t NowMs() const;

  const LiveConfig& live_;
  // The snapshot at construction: storage paths (restart-only settings).
  const std::shared_ptr<const Config> startup_;
  const Config& config_;
  Metrics& metrics_;
  Catalog& catalog_;
  JobQueue& queue_;
  LfsSyncer* const lfs_;
  const Clock& clock_;
  RepoRegistry registry_;
  LiveRuns live_runs_;
  ServableRepos servable_;
  StoreGauges gauges_;
  StatusView status_;
  BuildJobs builds_;
  PushJobs pushes_;
  SyncRunExecutor executor_;
  JobRunnerByKind runners_;
  JobDispatcher dispatcher_;
  ConfigReconciler reconciler_;
  std::mutex reconcile_mu_;  // one Reconcile at a time
};

}  // namespace mirrord
