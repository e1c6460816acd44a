// StatusView: the answers to "what is the state of ...?" — a run (live progress while it
// runs here, else the catalog), a repo's status (last and active run, refs, LFS usage, the
// next planned attempt), every repo, and the queue of every node. Reads only; the poller
// tells it when each repo is next polled.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "daemon/live_runs.h"
#include "daemon/repo_registry.h"
#include "daemon/store_gauges.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

// The API view of a catalog run record.
SyncRunView ViewFromRecord(const SyncRunRecord& record);

class StatusView {
 public:
  // Everything must outlive the view.
  StatusView(const LiveConfig& config, Catalog& catalog, JobQueue& queue, RepoRegistry& registry,
             LiveRuns& live_runs, StoreGauges& gauges, const Clock& clock);

  // A run's current view; NotFound when unknown.
  Result<SyncRunView> GetRun(int64_t run_id);
  Result<std::vector<RepoStatus>> ListRepos();
  // NotFound for a repo that is not mirrored.
  Result<RepoStatus> GetRepoStatus(std::string_view name);
  Result<RepoStatus> StatusOf(const RepoRecord& repo);
  Result<QueueView> GetQueue();

  // When the poller will next look at `name` (unix seconds), shown as the next attempt.
  void SetNextPoll(std::string_view name, int64_t unix_seconds);
  void ForgetRepo(std::string_view name);

 private:
  // `store_physical_bytes` and `jobs` are read once per answer (a store walk, a queue read).
  Result<RepoStatus> Build(const RepoRecord& repo, uint64_t store_physical_bytes,
                           const std::vector<QueuedJob>& jobs);
  int64_t NowMs() const;

  const LiveConfig& config_;  // read per use: reloadable (SIGHUP)
  Catalog& catalog_;
  JobQueue& queue_;
  RepoRegistry& registry_;
  LiveRuns& live_runs_;
  StoreGauges& gauges_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, int64_t, std::less<>> next_poll_;  // repo -> unix seconds
};

}  // namespace mirrord
