#include "storage/catalog.h"

#include <algorithm>
#include <limits>
#include <system_error>

#include "common/api_types.h"
#include "storage/migrations.h"
#include "storage/repo_fence.h"

namespace mirrord {
namespace {

// How long a statement waits for another process's write lock before failing Unavailable.
constexpr int kBusyTimeoutMs = 5000;

bool IsRepoState(std::string_view s) {
  return s == "new" || s == "syncing" || s == "ready" || s == "failed";
}

// SQLite integers are signed 64-bit; counters beyond that are clamped, not wrapped.
int64_t ToSqlInt(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}

constexpr std::string_view kRepoSelect =
    "SELECT id, name, upstream, path, url, state, head, created_at, updated_at, "
    "last_success_at, upstream_event, upstream_event_at, origin, retired_at FROM repos";

RepoRecord ReadRepo(const Statement& s) {
  RepoRecord r;
  r.id = s.ColumnInt64(0);
  r.name = s.ColumnText(1);
  r.upstream = s.ColumnText(2);
  r.path = s.ColumnText(3);
  r.url = s.ColumnText(4);
  r.state = s.ColumnText(5);
  r.head = s.ColumnText(6);
  r.created_at = s.ColumnInt64(7);
  r.updated_at = s.ColumnInt64(8);
  r.last_success_at = s.ColumnInt64(9);
  r.upstream_event = s.ColumnText(10);
  r.upstream_event_at = s.ColumnInt64(11);
  r.origin = s.ColumnText(12);
  r.retired_at = s.ColumnInt64(13);
  return r;
}

constexpr std::string_view kRunSelect =
    "SELECT r.id, r.repo_id, p.name, r.\"trigger\", r.state, r.error, r.queued_at, "
    "r.started_at, r.finished_at, r.received_bytes, r.received_objects, r.refs_added, "
    "r.refs_updated, r.refs_deleted, r.lfs_objects, r.lfs_objects_fetched, r.lfs_bytes, "
    "r.lfs_bytes_fetched, r.failure_phase, r.failure_code, r.failure_retryable, "
    "r.failure_retry_after FROM sync_runs AS r JOIN repos AS p ON p.id = r.repo_id ";

SyncRunRecord ReadRun(const Statement& s) {
  SyncRunRecord r;
  r.id = s.ColumnInt64(0);
  r.repo_id = s.ColumnInt64(1);
  r.repo_name = s.ColumnText(2);
  r.trigger = s.ColumnText(3);
  r.state = s.ColumnText(4);
  r.error = s.ColumnText(5);
  r.queued_at = s.ColumnInt64(6);
  r.started_at = s.ColumnInt64(7);
  r.finished_at = s.ColumnInt64(8);
  r.received_bytes = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(9)));
  r.received_objects = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(10)));
  r.refs_added = static_cast<int>(s.ColumnInt64(11));
  r.refs_updated = static_cast<int>(s.ColumnInt64(12));
  r.refs_deleted = static_cast<int>(s.ColumnInt64(13));
  r.lfs_objects = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(14)));
  r.lfs_objects_fetched = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(15)));
  r.lfs_bytes = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(16)));
  r.lfs_bytes_fetched = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(17)));
  if (std::optional<FailurePhase> phase = FailurePhaseFromName(s.ColumnText(18))) {
    RunFailure f;
    f.phase = *phase;
    f.code = s.ColumnText(19);
    f.retryable = s.ColumnInt64(20) != 0;
    if (!s.ColumnIsNull(21)) f.retry_after_seconds = s.ColumnInt64(21);
    r.failure = std::move(f);
  }
  return r;
}

// Runs `stmt` (already bound) and collects every row.
Result<std::vector<SyncRunRecord>> CollectRuns(Statement& stmt) {
  std::vector<SyncRunRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ReadRun(stmt));
  }
}

// The state of run `run_id`, or nullopt if there is no such run.
Result<std::optional<std::string>> RunState(Db& db, int64_t run_id) {
  ASSIGN_OR_RETURN(Statement stmt, db.Prepare("SELECT state FROM sync_runs WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.ColumnText(0));
}

// Explains why an UPDATE guarded by the run's state changed nothing.
Status RunNotUpdatable(Db& db, int64_t run_id, std::string_view wanted) {
  ASSIGN_OR_RETURN(std::optional<std::string> state, RunState(db, run_id));
  if (!state) return NotFound("sync run " + std::to_string(run_id) + " does not exist");
  return FailedPrecondition("sync run " + std::to_string(run_id) + " is " + *state + ", not " +
                            std::string(wanted));
}

// The repo's newest run whose state is in `states` (a list of SQL string literals).
Result<std::optional<SyncRunRecord>> NewestRunIn(Db& db, int64_t repo_id, std::string_view states) {
  ASSIGN_OR_RETURN(Statement stmt,
                   db.Prepare(std::string(kRunSelect) +
                              "WHERE r.repo_id = ? AND r.kind = 'sync' AND r.state IN (" +
                              std::string(states) + ") ORDER BY r.id DESC LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<SyncRunRecord>();
  return std::optional<SyncRunRecord>(ReadRun(stmt));
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFound("catalog directory " + dir.string() + " does not exist");
  }
  auto opened = [&]() -> Result<std::unique_ptr<Catalog>> {
    ASSIGN_OR_RETURN(Db db, Db::Open(file));
    // Connection settings first: the migrations already run with durable commits and
    // foreign keys enforced, and wait for a concurrent opener instead of failing.
    RETURN_IF_ERROR(db.Exec("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs)));
    RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = FULL"));
    RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON"));
    ASSIGN_OR_RETURN(int64_t fk, db.QueryInt64("PRAGMA foreign_keys"));
    if (fk != 1) return FailedPrecondition("this SQLite does not enforce foreign keys");
    // Refuses a newer schema before anything below can change the file.
    ASSIGN_OR_RETURN(int version, ApplyMigrations(db, CatalogMigrations()));
    {
      ASSIGN_OR_RETURN(Statement wal, db.Prepare("PRAGMA journal_mode = WAL"));
      ASSIGN_OR_RETURN(bool row, wal.Step());
      std::string mode = row ? wal.ColumnText(0) : "";
      if (mode != "wal") {
        return FailedPrecondition("cannot switch to WAL journaling (journal mode is '" + mode +
                                  "')");
      }
    }
    return std::unique_ptr<Catalog>(new Catalog(std::move(db), version));
  }();
  if (!opened.ok()) return opened.status().WithContext("catalog " + file.string());
  return opened;
}

// ---- repos ----

Result<RepoRecord> Catalog::InsertRepo(const RepoRecord& repo) {
  RepoRecord out = repo;
  if (out.name.empty()) return InvalidArgument("repository name is empty");
  if (out.state.empty()) out.state = "new";
  if (!IsRepoState(out.state)) return InvalidArgument("unknown repository state " + out.state);
  if (out.origin != "config" && out.origin != "api") {
    return InvalidArgument("unknown repository origin " + out.origin);
  }

  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("INSERT INTO repos (name, upstream, path, url, state, head, "
                               "created_at, updated_at, last_success_at, origin, retired_at) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt.BindAll(out.name, out.upstream, out.path, out.url, out.state, out.head,
                               out.created_at, out.updated_at, out.last_success_at, out.origin,
                               out.retired_at));
  Status s = stmt.Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExists("repository " + out.name + " is already in the catalog");
  }
  RETURN_IF_ERROR(s.WithContext("insert repository " + out.name));
  out.id = db_.LastInsertRowId();
  return out;
}

Result<RepoRecord> Catalog::GetRepo(std::string_view name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kRepoSelect) + " WHERE name = ?"));
  RETURN_IF_ERROR(stmt.BindAll(name));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("repository " + std::string(name) + " is not in the catalog");
  return ReadRepo(stmt);
}

Result<std::vector<RepoRecord>> Catalog::ListRepos() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kRepoSelect) + " ORDER BY name"));
  std::vector<RepoRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ReadRepo(stmt));
  }
}

Result<std::map<std::string, int64_t>> Catalog::CountReposByState() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT state, count(*) FROM repos GROUP BY state"));
  std::map<std::string, int64_t> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out[stmt.ColumnText(0)] = stmt.ColumnInt64(1);
  }
}

Status Catalog::DeleteRepo(std::string_view name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM repos WHERE name = ?"));
  RETURN_IF_ERROR(stmt.BindAll(name));
  RETURN_IF_ERROR(stmt.Run().WithContext("delete repository " + std::string(name)));
  if (db_.Changes() == 0) {
    return NotFound("repository " + std::string(name) + " is not in the catalog");
  }
  return Status::Ok();
}

Status Catalog::SetRepoState(int64_t repo_id, std::string_view state, int64_t now, int64_t fence) {
  if (!IsRepoState(state)) return InvalidArgument("unknown repository state " + std::string(state));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  RETURN_IF_ERROR(AdvanceRepoFence(db_, repo_id, fence));
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE repos SET state = ?, updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(state, now, repo_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("set state of repository " + std::to_string(repo_id)));
  if (db_.Changes() == 0) {
    return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
  }
  return txn.Commit();
}

Status Catalog::CheckFence(int64_t repo_id, int64_t fence) {
  std::lock_guard lock(mu_);
  return CheckRepoFence(db_, repo_id, fence);
}

// ---- refs ----

Status Catalog::ReplaceRefs(int64_t repo_id, const std::vector<RefRecord>& refs,
                            std::string_view head, int64_t now,
                            const std::vector<LfsRefRecord>* lfs_refs, int64_t fence) {
  for (const RefRecord& ref : refs) {
    if (ref.name.empty() || ref.oid.empty()) {
      return InvalidArgument("ref with an empty name or oid (\"" + ref.name + "\")");
    }
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  RETURN_IF_ERROR(AdvanceRepoFence(db_, repo_id, fence));
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("UPDATE repos SET head = ?, state = 'ready', "
                                 "last_success_at = ?, updated_at = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(head, now, now, repo_id));
    RETURN_IF_ERROR(stmt.Run().WithContext("publish refs"));
    if (db_.Changes() == 0) {
      return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
    }
  }
  {
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM refs WHERE repo_id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(repo_id));
    RETURN_IF_ERROR(stmt.Run().WithContext("publish refs"));
  }
  ASSIGN_OR_RETURN(
      Statement insert,
      db_.Prepare("INSERT INTO refs (repo_id, name, oid, peeled) VALUES (?, ?, ?, ?)"));
  for (const RefRecord& ref : refs) {
    RETURN_IF_ERROR(insert.BindAll(repo_id, ref.name, ref.oid, ref.peeled));
    Status s = insert.Run();
    if (s.code() == StatusCode::kAlreadyExists) {
      return InvalidArgument("ref " + ref.name + " is given twice");
    }
    RETURN_IF_ERROR(s.WithContext("publish refs: " + ref.name));
    RETURN_IF_ERROR(insert.Reset());
  }
  if (lfs_refs != nullptr) RETURN_IF_ERROR(ReplaceLfsRefsLocked(repo_id, *lfs_refs));
  return txn.Commit().WithContext("publish refs");
}

Result<std::vector<RefRecord>> Catalog::GetRefs(int64_t repo_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT name, oid, peeled FROM refs "
                                               "WHERE repo_id = ? ORDER BY name"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id));
  std::vector<RefRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back({stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2)});
  }
}

Result<size_t> Catalog::CountRefs(int64_t repo_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT count(*) FROM refs WHERE repo_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("count(*) returned no row");
  return static_cast<size_t>(stmt.ColumnInt64(0));
}

// ---- sync runs ----

Result<int64_t> Catalog::InsertRun(int64_t repo_id, std::string_view trigger, int64_t queued_at) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("INSERT INTO sync_runs (repo_id, \"trigger\", state, queued_at) "
                               "VALUES (?, ?, 'queued', ?)"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id, trigger, queued_at));
  Status s = stmt.Run();
  // The only constraint this insert can break is the foreign key to repos.
  if (s.code() == StatusCode::kFailedPrecondition) {
    return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
  }
  RETURN_IF_ERROR(s.WithContext("insert sync run"));
  return db_.LastInsertRowId();
}

Status Catalog::MarkRunStarted(int64_t run_id, int64_t now, int64_t fence) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  if (fence != 0) {
    ASSIGN_OR_RETURN(int64_t repo_id, RepoOfRun(db_, run_id));
    RETURN_IF_ERROR(AdvanceRepoFence(db_, repo_id, fence));
  }
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("UPDATE sync_runs SET state = 'running', "
                                               "started_at = ? WHERE id = ? AND state = 'queued'"));
  RETURN_IF_ERROR(stmt.BindAll(now, run_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("start sync run " + std::to_string(run_id)));
  if (db_.Changes() == 0) return RunNotUpdatable(db_, run_id, "queued");
  return txn.Commit();
}

Status Catalog::RequeueRun(int64_t run_id, int64_t fence_floor) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  if (fence_floor > 0) {
    Result<int64_t> repo_id = RepoOfRun(db_, run_id);
    if (repo_id.ok()) RETURN_IF_ERROR(RaiseRepoFence(db_, *repo_id, fence_floor));
  }
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE sync_runs SET state = 'queued', started_at = 0 "
                               "WHERE id = ? AND state IN ('queued', 'running')"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("requeue sync run " + std::to_string(run_id)));
  // The raised fence stands even when the run was not requeued.
  Status requeued =
      db_.Changes() == 0 ? RunNotUpdatable(db_, run_id, "queued or running") : Status::Ok();
  RETURN_IF_ERROR(txn.Commit());
  return requeued;
}

Status Catalog::DeleteQueuedRun(int64_t run_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("DELETE FROM sync_runs WHERE id = ? AND state = 'queued'"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("delete sync run " + std::to_string(run_id)));
  if (db_.Changes() == 0) return RunNotUpdatable(db_, run_id, "queued");
  return Status::Ok();
}

Status Catalog::SetRepoSource(int64_t repo_id, std::string_view upstream, std::string_view path,
                              std::string_view url, int64_t now) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("UPDATE repos SET upstream = ?, path = ?, url = ?, "
                                               "updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(upstream, path, url, now, repo_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("re-point repository"));
  if (db_.Changes() == 0) return NotFound("repository id " + std::to_string(repo_id));
  return Status::Ok();
}

Status Catalog::SetRepoOrigin(int64_t repo_id, std::string_view origin, int64_t retired_at) {
  if (origin != "config" && origin != "api") {
    return InvalidArgument("unknown repository origin " + std::string(origin));
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE repos SET origin = ?, retired_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(origin, retired_at, repo_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("set repository origin"));
  if (db_.Changes() == 0) return NotFound("repository id " + std::to_string(repo_id));
  return Status::Ok();
}

Status Catalog::SetUpstreamEvent(int64_t repo_id, std::string_view event, int64_t now) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("UPDATE repos SET upstream_event = ?, "
                                               "upstream_event_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(event, now, repo_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("record upstream event"));
  if (db_.Changes() == 0) return NotFound("repository id " + std::to_string(repo_id));
  return Status::Ok();
}

Status Catalog::FinishRun(const SyncRunRecord& run, int64_t fence) {
  if (!IsFinalRunState(run.state)) {
    return InvalidArgument("sync run " + std::to_string(run.id) + " cannot finish as \"" +
                           run.state + "\"");
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  if (fence != 0) {
    ASSIGN_OR_RETURN(int64_t repo_id, RepoOfRun(db_, run.id));
    RETURN_IF_ERROR(AdvanceRepoFence(db_, repo_id, fence));
  }
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE sync_runs SET state = ?, error = ?, finished_at = ?, "
                               "received_bytes = ?, received_objects = ?, refs_added = ?, "
                               "refs_updated = ?, refs_deleted = ?, lfs_objects = ?, "
                               "lfs_objects_fetched = ?, lfs_bytes = ?, lfs_bytes_fetched = ?, "
                               "failure_phase = ?, failure_code = ?, failure_retryable = ?, "
                               "failure_retry_after = NULLIF(?, -1) "
                               "WHERE id = ? AND state IN ('queued', 'running')"));
  RETURN_IF_ERROR(stmt.BindAll(
      run.state, run.error, run.finished_at, ToSqlInt(run.received_bytes),
      ToSqlInt(run.received_objects), run.refs_added, run.refs_updated, run.refs_deleted,
      ToSqlInt(run.lfs_objects), ToSqlInt(run.lfs_objects_fetched), ToSqlInt(run.lfs_bytes),
      ToSqlInt(run.lfs_bytes_fetched),
      run.failure ? FailurePhaseName(run.failure->phase) : std::string_view(),
      run.failure ? run.failure->code : "", run.failure && run.failure->retryable ? 1 : 0,
      run.failure ? run.failure->retry_after_seconds.value_or(-1) : int64_t{-1}, run.id));
  RETURN_IF_ERROR(stmt.Run().WithContext("finish sync run " + std::to_string(run.id)));
  if (db_.Changes() == 0) return RunNotUpdatable(db_, run.id, "queued or running");
  return txn.Commit();
}

Result<SyncRunRecord> Catalog::GetRun(int64_t run_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kRunSelect) + "WHERE r.id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("sync run " + std::to_string(run_id) + " does not exist");
  return ReadRun(stmt);
}

Result<std::optional<SyncRunRecord>> Catalog::LastFinishedRun(int64_t repo_id) {
  std::lock_guard lock(mu_);
  return NewestRunIn(db_, repo_id, "'succeeded', 'failed', 'interrupted'");
}

Result<std::optional<SyncRunRecord>> Catalog::LastFailedRun(int64_t repo_id) {
  std::lock_guard lock(mu_);
  return NewestRunIn(db_, repo_id, "'failed'");
}

Result<std::vector<SyncRunRecord>> Catalog::UnfinishedRuns() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kRunSelect) +
                               "WHERE r.state IN ('queued', 'running') ORDER BY r.id"));
  return CollectRuns(stmt);
}

Result<int> Catalog::MarkRunningRunsInterrupted(int64_t now, std::string_view error) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  int interrupted = 0;
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("UPDATE sync_runs SET state = 'interrupted', error = ?, "
                                 "finished_at = ? WHERE state = 'running'"));
    RETURN_IF_ERROR(stmt.BindAll(error, now));
    RETURN_IF_ERROR(stmt.Run().WithContext("interrupt running sync runs"));
    interrupted = static_cast<int>(db_.Changes());
  }
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("UPDATE repos SET state = CASE WHEN last_success_at > 0 "
                                 "THEN 'ready' ELSE 'new' END, updated_at = ? "
                                 "WHERE state = 'syncing'"));
    RETURN_IF_ERROR(stmt.BindAll(now));
    RETURN_IF_ERROR(stmt.Run().WithContext("reset syncing repositories"));
  }
  RETURN_IF_ERROR(txn.Commit().WithContext("interrupt running sync runs"));
  return interrupted;
}

}  // namespace mirrord
