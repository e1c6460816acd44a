// Catalog: mirrord's SQLite database of mirrored repositories, their published refs and
// the history of sync runs. It records what the blob store and the bare mirrors already
// hold; it is written after the data is durable, never before.
//
// Times are Unix seconds (see common/clock.h); 0 means "never".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/sqlite.h"

namespace mirrord {

// One row of `repos`.
struct RepoRecord {
  int64_t id = 0;             // assigned by InsertRepo
  std::string name;           // local name, unique
  std::string upstream;       // configured upstream name, or "" with an explicit url
  std::string path;           // the repo's path at the upstream
  std::string url;            // explicit clone URL, or ""
  std::string state = "new";  // "new", "syncing", "ready", "failed"
  std::string head;           // e.g. "refs/heads/main"; "" until the first success
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t last_success_at = 0;
};

// One published ref of a repo.
struct RefRecord {
  std::string name;    // e.g. "refs/heads/main"
  std::string oid;     // hex object id
  std::string peeled;  // for annotated tags: the object the tag points to; else ""
};

// One row of `sync_runs`, with the repo's name joined in when read.
struct SyncRunRecord {
  int64_t id = 0;
  int64_t repo_id = 0;
  std::string repo_name;  // filled by reads; ignored by FinishRun
  std::string trigger;    // "manual", "poll", "webhook", "startup"
  std::string state;      // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;      // "" unless failed or interrupted
  int64_t queued_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  uint64_t received_bytes = 0;
  uint64_t received_objects = 0;
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
};

// The catalog of one mirrord instance. Opening applies any missing schema migrations.
// Errors are translated by SqliteError: disk full is ResourceExhausted, a database locked
// by another process beyond the busy timeout is Unavailable.
// Thread-safety: all methods are thread-safe; they share one connection guarded by a mutex,
// so calls are serialised (they are short; run them off network threads).
class Catalog {
 public:
  // Opens `file`, creating it if missing (its directory must exist: NotFound otherwise),
  // sets WAL journaling, synchronous=FULL, foreign keys and a busy timeout, and migrates
  // it to the latest schema. A file written by a newer mirrord (a higher schema version)
  // is refused with FailedPrecondition and left untouched.
  static Result<std::unique_ptr<Catalog>> Open(const std::filesystem::path& file);

  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // The schema version of the open file.
  int schema_version() const { return schema_version_; }

  // ---- repos ----

  // Inserts `repo` (its id is ignored; an empty state means "new"). On success returns the
  // stored record with its new id. AlreadyExists if the name is taken; InvalidArgument for
  // an empty name or an unknown state.
  Result<RepoRecord> InsertRepo(const RepoRecord& repo);

  // NotFound if no repo has that name.
  Result<RepoRecord> GetRepo(std::string_view name);

  // All repos, ordered by name.
  Result<std::vector<RepoRecord>> ListRepos();

  // Removes the repo with its refs and runs. NotFound if no repo has that name.
  Status DeleteRepo(std::string_view name);

  // Sets the state ("new", "syncing", "ready", "failed") and updated_at. NotFound for an
  // unknown id; InvalidArgument for an unknown state.
  Status SetRepoState(int64_t repo_id, std::string_view state, int64_t now);

  // ---- refs ----

  // Replaces the repo's whole ref set with `refs` and records a successful publication:
  // head, state "ready", last_success_at = updated_at = now. All or nothing: on failure the
  // previous refs and repo row are unchanged. NotFound for an unknown id; InvalidArgument
  // for a ref with an empty name or oid, or a name given twice.
  Status ReplaceRefs(int64_t repo_id, const std::vector<RefRecord>& refs, std::string_view head,
                     int64_t now);

  // The repo's refs ordered by name (empty for an unknown id).
  Result<std::vector<RefRecord>> GetRefs(int64_t repo_id);

  // How many refs the repo has (0 for an unknown id).
  Result<size_t> CountRefs(int64_t repo_id);

  // ---- sync runs ----

  // Records a new run in state "queued". On success returns its id, never reused.
  // NotFound for an unknown repo id.
  Result<int64_t> InsertRun(int64_t repo_id, std::string_view trigger, int64_t queued_at);

  // Moves a queued run to "running" with started_at = now. NotFound for an unknown id;
  // FailedPrecondition if the run is not queued.
  Status MarkRunStarted(int64_t run_id, int64_t now);

  // Finishes run `run.id`: writes state (which must be "succeeded", "failed" or
  // "interrupted", else InvalidArgument), error, finished_at and the transfer counters.
  // NotFound for an unknown id; FailedPrecondition if the run already finished (a finished
  // run is never rewritten).
  Status FinishRun(const SyncRunRecord& run);

  // NotFound for an unknown id.
  Result<SyncRunRecord> GetRun(int64_t run_id);

  // The repo's most recent run in a final state, if any.
  Result<std::optional<SyncRunRecord>> LastFinishedRun(int64_t repo_id);

  // Every queued or running run, oldest first: the work a restarted daemon must account for.
  Result<std::vector<SyncRunRecord>> UnfinishedRuns();

  // Startup recovery after an unclean stop, in one transaction: every "running" run becomes
  // "interrupted" with `error` and finished_at = now, and every repo left "syncing" goes back
  // to "ready" if it was ever synced, else "new". Queued runs are left for the job queue.
  // On success returns how many runs were interrupted; on failure nothing changed.
  Result<int> MarkRunningRunsInterrupted(int64_t now, std::string_view error);

 private:
  Catalog(Db db, int schema_version) : db_(std::move(db)), schema_version_(schema_version) {}

  std::mutex mu_;
  Db db_;  // guarded by mu_
  const int schema_version_;
};

}  // namespace mirrord
