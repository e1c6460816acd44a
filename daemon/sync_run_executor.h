// SyncRunExecutor: the one place that performs a claimed sync job and keeps its books. It
// marks the run started in the catalog, runs SyncRepository (daemon/repo_sync.h) with itself
// as the SyncSteps (live progress, the LFS phase, recording the published refs behind the
// lease fence), then records the outcome: the run's final state and typed failure
// (daemon/sync_failure.h), the repo's state, metrics, the serving gate and disk gauges.
// Queue-side consequences (finish, retry, host pause) are the dispatcher's.
// Thread-safety: Run may be called concurrently for different repos.
#pragma once

#include "common/clock.h"
#include "common/config.h"
#include "daemon/build_jobs.h"
#include "daemon/job_runner.h"
#include "daemon/lfs_sync.h"
#include "daemon/live_runs.h"
#include "daemon/metrics.h"
#include "daemon/repo_registry.h"
#include "daemon/servable_repos.h"
#include "daemon/store_gauges.h"
#include "storage/catalog.h"

namespace mirrord {

class SyncRunExecutor final : public JobRunner {
 public:
  // Everything must outlive the executor; `lfs` may be null (no LFS phase); `builds` may be
  // null (no build triggers): otherwise a sync that publishes a new commit on a ref a
  // recipe builds queues that build (BuildJobs::OnPublished) right after the catalog
  // learned the new refs, carrying the sync's trigger, priority and push time.
  SyncRunExecutor(const LiveConfig& config, Catalog& catalog, RepoRegistry& registry,
                  LiveRuns& live_runs, ServableRepos& servable, StoreGauges& gauges,
                  Metrics& metrics, LfsSyncer* lfs, const Clock& clock,
                  BuildJobs* builds = nullptr);

  JobOutcome Run(const QueuedJob& job, const JobContext& context) override;

 private:
  class Steps;

  const LiveConfig& config_;  // read per use: reloadable (SIGHUP)
  Catalog& catalog_;
  RepoRegistry& registry_;
  LiveRuns& live_runs_;
  ServableRepos& servable_;
  StoreGauges& gauges_;
  Metrics& metrics_;
  LfsSyncer* const lfs_;
  const Clock& clock_;
  BuildJobs* const builds_;
};

}  // namespace mirrord
