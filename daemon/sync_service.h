// SyncService: what the admin API, webhooks and the scheduler ask of the sync machinery.
// Registering repos, requesting syncs, and reading their state. The implementation queues
// work and runs at most one sync per repo at a time on a bounded worker pool.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace mirrord {

// Where a repo comes from. Exactly one of `upstream` (a configured upstream name, with
// `path` at that upstream, default: the local name) or `url` is set.
struct RepoSpec {
  std::string name;      // local name, validated by ValidateRepoName
  std::string upstream;  // e.g. "github", "hf"
  std::string path;      // e.g. "THUDM/chatglm3-6b"
  std::string url;       // explicit URL, e.g. "https://example.com/x.git"
};

enum class SyncTrigger { kManual, kPoll, kWebhook, kStartup };
std::string_view SyncTriggerName(SyncTrigger t);

// Live progress of one sync, as shown by `mirrorctl sync`.
struct SyncProgress {
  std::string phase;  // "queued", "connecting", "fetching", "publishing", "maintenance", "done"
  uint64_t received_objects = 0;
  uint64_t total_objects = 0;
  uint64_t indexed_objects = 0;
  uint64_t received_bytes = 0;
  double bytes_per_second = 0;  // over the last few seconds
};

struct SyncRunView {
  int64_t run_id = 0;
  std::string repo;
  std::string trigger;  // SyncTriggerName
  std::string state;    // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;    // empty unless failed; never contains credentials
  SyncProgress progress;
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
  int64_t queued_at = 0;    // unix seconds
  int64_t started_at = 0;   // 0 until running
  int64_t finished_at = 0;  // 0 until finished
};

struct RepoStatus {
  std::string name;
  std::string upstream;      // upstream name, or "" for an explicit url
  std::string url;           // resolved upstream URL, credentials removed
  std::string state;         // "new", "syncing", "ready", "failed"
  std::optional<SyncRunView> last_run;    // most recent finished run
  std::optional<SyncRunView> active_run;  // queued or running now
  int64_t last_success_at = 0;
  size_t ref_count = 0;
  std::string head;          // e.g. "refs/heads/main"
};

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
  virtual Result<int64_t> RequestSync(std::string_view name, SyncTrigger trigger) = 0;

  // A run's current view; NotFound when unknown.
  virtual Result<SyncRunView> GetRun(int64_t run_id) = 0;

  virtual Result<std::vector<RepoStatus>> ListRepos() = 0;
  virtual Result<RepoStatus> GetRepoStatus(std::string_view name) = 0;

  // Removes the repo from the catalog and deletes its mirror from disk. A running sync is
  // cancelled first. NotFound for an unknown repo.
  virtual Status RemoveRepo(std::string_view name) = 0;
};

}  // namespace mirrord
