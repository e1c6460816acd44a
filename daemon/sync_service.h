// SyncService: what the admin API, webhooks and the scheduler ask of the sync machinery.
// Registering repos, requesting syncs, and reading their state. The implementation queues
// work and runs at most one sync per repo at a time on a bounded worker pool.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/api_types.h"
#include "common/status.h"

namespace mirrord {

class SyncService {
 public:
  virtual ~SyncService() = default;

  // Adds the repo to the catalog. If a repo of that name exists with the same source,
  // returns it unchanged; with a different source: AlreadyExists. Bad name or unknown
  // upstream: InvalidArgument.
  virtual Result<RepoStatus> RegisterRepo(const RepoSpec& spec) = 0;

  // Queues a sync of a registered repo and returns its run id. A request for a repo with
  // a queued run returns that run's id; for a repo with a running sync, queues exactly one
  // follow-up. NotFound for an unknown repo; Cancelled while shutting down.
  virtual Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) = 0;

  // A run's current view; NotFound when unknown.
  virtual Result<SyncRunView> GetRun(int64_t run_id) = 0;

  virtual Result<std::vector<RepoStatus>> ListRepos() = 0;
  // What is queued and running (on every node sharing the queue), and paused hosts.
  virtual Result<QueueView> GetQueue() = 0;
  virtual Result<RepoStatus> GetRepoStatus(std::string_view name) = 0;

  // Removes the repo from the catalog and deletes its mirror from disk. A running sync is
  // cancelled first. NotFound for an unknown repo.
  virtual Status RemoveRepo(std::string_view name) = 0;
};

}  // namespace mirrord
