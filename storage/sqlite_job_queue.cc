#include "storage/sqlite_job_queue.h"

#include <algorithm>
#include <map>

#include "storage/queue_rules.h"

namespace mirrord {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr std::string_view kColumns =
    "run_id, repo, \"trigger\", priority, queued_at_ms, not_before_ms, pushed_at_ms, host, "
    "attempt, running, owner, lease_until_ms, kind, build, ref, \"commit\", fence";

QueuedJob JobFromRow(const Statement& s) {
  QueuedJob j;
  j.run_id = s.ColumnInt64(0);
  j.repo = s.ColumnText(1);
  j.trigger = s.ColumnText(2);
  j.priority = static_cast<int>(s.ColumnInt64(3));
  j.queued_at_ms = s.ColumnInt64(4);
  j.not_before_ms = s.ColumnInt64(5);
  j.pushed_at_ms = s.ColumnInt64(6);
  j.host = s.ColumnText(7);
  j.attempt = static_cast<int>(s.ColumnInt64(8));
  j.running = s.ColumnInt64(9) != 0;
  j.owner = s.ColumnText(10);
  j.lease_until_ms = s.ColumnInt64(11);
  j.kind = JobKindFromName(s.ColumnText(12));
  j.build = s.ColumnText(13);
  j.ref = s.ColumnText(14);
  j.commit = s.ColumnText(15);
  j.fence = s.ColumnInt64(16);
  return j;
}

Result<std::vector<QueuedJob>> Rows(Statement& s) {
  std::vector<QueuedJob> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(JobFromRow(s));
  }
}

Status InsertJob(Db& db, const QueuedJob& j) {
  ASSIGN_OR_RETURN(Statement s,
                   db.Prepare("INSERT INTO sync_jobs (" + std::string(kColumns) +
                              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(s.BindAll(j.run_id, j.repo, j.trigger, j.priority, j.queued_at_ms,
                            j.not_before_ms, j.pushed_at_ms, j.host, j.attempt, j.running ? 1 : 0,
                            j.owner, j.lease_until_ms, JobKindName(j.kind), j.build, j.ref,
                            j.commit, j.fence));
  return s.Run();
}

}  // namespace

Result<std::unique_ptr<SqliteJobQueue>> SqliteJobQueue::Open(
    const std::filesystem::path& catalog_file) {
  auto opened = [&]() -> Result<std::unique_ptr<SqliteJobQueue>> {
    ASSIGN_OR_RETURN(Db db, Db::Open(catalog_file, SQLITE_OPEN_READWRITE));
    RETURN_IF_ERROR(db.Exec("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs)));
    RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = FULL"));
    ASSIGN_OR_RETURN(int64_t version, db.QueryInt64("PRAGMA user_version"));
    if (version < 9) {
      return FailedPrecondition(
          "catalog schema " + std::to_string(version) +
          " has no job queue with job kinds and fencing tokens (open the catalog first)");
    }
    return std::unique_ptr<SqliteJobQueue>(new SqliteJobQueue(std::move(db)));
  }();
  if (!opened.ok()) return opened.status().WithContext("job queue " + catalog_file.string());
  return opened;
}

Result<std::optional<QueuedJob>> SqliteJobQueue::QueuedFor(const QueuedJob& key) {
  // Build jobs name their recipe's repo, so (kind, repo, build, ref) is QueueKey's key.
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT " + std::string(kColumns) +
                                            " FROM sync_jobs WHERE kind = ? AND repo = ? AND"
                                            " build = ? AND ref = ? AND running = 0"));
  const bool build = key.kind != JobKind::kSync;
  RETURN_IF_ERROR(s.BindAll(JobKindName(key.kind), key.repo, build ? key.build : std::string(),
                            build ? key.ref : std::string()));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<QueuedJob>();
  return std::optional<QueuedJob>(JobFromRow(s));
}

Result<QueuedJob> SqliteJobQueue::Coalesce(QueuedJob queued, const QueuedJob& incoming) {
  QueuedJob kept = CoalesceJobs(std::move(queued), incoming);
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("UPDATE sync_jobs SET priority = ?, \"trigger\" = ?, "
                               "not_before_ms = ?, pushed_at_ms = ?, host = ?, \"commit\" = ? "
                               "WHERE run_id = ?"));
  RETURN_IF_ERROR(s.BindAll(kept.priority, kept.trigger, kept.not_before_ms, kept.pushed_at_ms,
                            kept.host, kept.commit, kept.run_id));
  RETURN_IF_ERROR(s.Run());
  return kept;
}

Result<EnqueueResult> SqliteJobQueue::Enqueue(const QueuedJob& in) {
  if (in.repo.empty()) return InvalidArgument("a job needs a repository");
  QueuedJob job = in;
  if (job.kind == JobKind::kSync) {
    job.build.clear();
    job.ref.clear();
    job.commit.clear();
  } else if (job.build.empty() || job.ref.empty()) {
    return InvalidArgument("a build or push job needs a build (image) and a ref (registry)");
  }
  job.running = false;
  job.owner.clear();
  job.lease_until_ms = 0;
  job.fence = 0;
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  {
    ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT 1 FROM sync_jobs WHERE run_id = ?"));
    RETURN_IF_ERROR(s.BindAll(job.run_id));
    ASSIGN_OR_RETURN(bool exists, s.Step());
    if (exists) return AlreadyExists("run " + std::to_string(job.run_id) + " is already queued");
  }
  EnqueueResult result;
  ASSIGN_OR_RETURN(std::optional<QueuedJob> queued, QueuedFor(job));
  if (queued) {
    ASSIGN_OR_RETURN(result.job, Coalesce(std::move(*queued), job));
    result.coalesced = true;
  } else {
    RETURN_IF_ERROR(InsertJob(db_, job));
    result.job = job;
  }
  RETURN_IF_ERROR(txn.Commit());
  return result;
}

Result<std::optional<QueuedJob>> SqliteJobQueue::CoalesceIntoQueued(const QueuedJob& job) {
  if (job.repo.empty()) return InvalidArgument("a job needs a repository");
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(std::optional<QueuedJob> queued, QueuedFor(job));
  if (!queued) return std::optional<QueuedJob>();
  ASSIGN_OR_RETURN(QueuedJob merged, Coalesce(std::move(*queued), job));
  RETURN_IF_ERROR(txn.Commit());
  return std::optional<QueuedJob>(std::move(merged));
}

Result<std::optional<QueuedJob>> SqliteJobQueue::Claim(const ClaimRequest& request) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  // The claim rules are storage/queue_rules.h's, applied to every job and pause as read in
  // this transaction (the same rules the depth gauge counts by).
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT " + std::string(kColumns) + " FROM sync_jobs"));
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, Rows(s));
  std::vector<PausedHost> paused;
  {
    ASSIGN_OR_RETURN(Statement p, db_.Prepare("SELECT host, until_ms FROM paused_hosts"
                                              " WHERE until_ms > ?"));
    RETURN_IF_ERROR(p.BindAll(request.now_ms));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, p.Step());
      if (!row) break;
      paused.push_back({p.ColumnText(0), p.ColumnInt64(1), ""});
    }
  }
  std::optional<size_t> pick =
      PickClaimable(jobs, ClaimStateOf(jobs, paused, request.now_ms, request.max_running_per_host));
  std::optional<QueuedJob> chosen;
  if (pick) chosen = std::move(jobs[*pick]);
  if (!chosen) return std::optional<QueuedJob>();
  chosen->running = true;
  chosen->owner = request.owner;
  chosen->lease_until_ms = request.now_ms + request.lease_ms;
  // The next fencing token, in the same transaction as the claim.
  {
    ASSIGN_OR_RETURN(Statement f,
                     db_.Prepare("UPDATE queue_fence SET last = max(last + 1, ?) WHERE id = 1"));
    RETURN_IF_ERROR(f.BindAll(request.now_ms));
    RETURN_IF_ERROR(f.Run());
  }
  ASSIGN_OR_RETURN(chosen->fence, db_.QueryInt64("SELECT last FROM queue_fence WHERE id = 1"));
  ASSIGN_OR_RETURN(Statement u, db_.Prepare("UPDATE sync_jobs SET running = 1, owner = ?, "
                                            "lease_until_ms = ?, fence = ? WHERE run_id = ?"));
  RETURN_IF_ERROR(u.BindAll(chosen->owner, chosen->lease_until_ms, chosen->fence, chosen->run_id));
  RETURN_IF_ERROR(u.Run());
  RETURN_IF_ERROR(txn.Commit());
  return chosen;
}

Status SqliteJobQueue::Renew(int64_t run_id, std::string_view owner, int64_t lease_until_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("UPDATE sync_jobs SET lease_until_ms = ? "
                                            "WHERE run_id = ? AND running = 1 AND owner = ?"));
  RETURN_IF_ERROR(s.BindAll(lease_until_ms, run_id, owner));
  RETURN_IF_ERROR(s.Run());
  if (db_.Changes() == 0) {
    return NotFound("run " + std::to_string(run_id) + " is not running on this node");
  }
  return Status::Ok();
}

Status SqliteJobQueue::Finish(int64_t run_id, std::string_view owner) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("DELETE FROM sync_jobs "
                                            "WHERE run_id = ? AND running = 1 AND owner = ?"));
  RETURN_IF_ERROR(s.BindAll(run_id, owner));
  RETURN_IF_ERROR(s.Run());
  if (db_.Changes() == 0) {
    return NotFound("run " + std::to_string(run_id) + " is not running on this node");
  }
  return Status::Ok();
}

Result<JobQueue::Requeued> SqliteJobQueue::RequeueAbandoned(std::string_view owner,
                                                            int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT " + std::string(kColumns) +
                                            " FROM sync_jobs WHERE running = 1 AND"
                                            " ((owner = ?1 AND ?1 <> '') OR lease_until_ms < ?2)"
                                            " ORDER BY run_id"));
  RETURN_IF_ERROR(s.BindAll(owner, now_ms));
  ASSIGN_OR_RETURN(std::vector<QueuedJob> abandoned, Rows(s));
  Requeued out;
  for (QueuedJob& j : abandoned) {
    out.lost_by.push_back(j.owner);
    j.running = false;
    j.owner.clear();
    j.lease_until_ms = 0;
    ASSIGN_OR_RETURN(std::optional<QueuedJob> queued, QueuedFor(j));
    if (queued) {
      // The abandoned run keeps its id (its followers wait for it); the queued one folds in.
      ASSIGN_OR_RETURN(Statement d, db_.Prepare("DELETE FROM sync_jobs WHERE run_id = ?"));
      RETURN_IF_ERROR(d.BindAll(queued->run_id));
      RETURN_IF_ERROR(d.Run());
      out.dropped.push_back(queued->run_id);
      j = CoalesceJobs(std::move(j), *queued);
    }
    ASSIGN_OR_RETURN(Statement u,
                     db_.Prepare("UPDATE sync_jobs SET running = 0, owner = '', lease_until_ms = 0,"
                                 " priority = ?, \"trigger\" = ?, not_before_ms = ?,"
                                 " pushed_at_ms = ?, \"commit\" = ? WHERE run_id = ?"));
    RETURN_IF_ERROR(
        u.BindAll(j.priority, j.trigger, j.not_before_ms, j.pushed_at_ms, j.commit, j.run_id));
    RETURN_IF_ERROR(u.Run());
    out.jobs.push_back(std::move(j));
  }
  RETURN_IF_ERROR(txn.Commit());
  return out;
}

Result<int64_t> SqliteJobQueue::RemoveQueued(std::string_view repo) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  QueuedJob sync;
  sync.repo = std::string(repo);
  ASSIGN_OR_RETURN(std::optional<QueuedJob> queued, QueuedFor(sync));
  if (!queued) return int64_t{0};
  ASSIGN_OR_RETURN(Statement d, db_.Prepare("DELETE FROM sync_jobs WHERE run_id = ?"));
  RETURN_IF_ERROR(d.BindAll(queued->run_id));
  RETURN_IF_ERROR(d.Run());
  RETURN_IF_ERROR(txn.Commit());
  return queued->run_id;
}

Result<std::vector<QueuedJob>> SqliteJobQueue::List() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT " + std::string(kColumns) +
                                            " FROM sync_jobs ORDER BY running DESC, priority,"
                                            " not_before_ms, queued_at_ms, run_id"));
  return Rows(s);
}

Status SqliteJobQueue::PauseHost(const PausedHost& pause) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement s,
                   db_.Prepare("INSERT INTO paused_hosts (host, until_ms, reason) VALUES (?, ?, ?)"
                               " ON CONFLICT (host) DO UPDATE SET until_ms = excluded.until_ms,"
                               " reason = excluded.reason"
                               " WHERE excluded.until_ms > paused_hosts.until_ms"));
  RETURN_IF_ERROR(s.BindAll(pause.host, pause.until_ms, pause.reason));
  return s.Run();
}

Result<std::vector<PausedHost>> SqliteJobQueue::PausedHosts(int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT host, until_ms, reason FROM paused_hosts"
                                            " WHERE until_ms > ? ORDER BY host"));
  RETURN_IF_ERROR(s.BindAll(now_ms));
  std::vector<PausedHost> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back({s.ColumnText(0), s.ColumnInt64(1), s.ColumnText(2)});
  }
}

Result<bool> SqliteJobQueue::RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                                            int64_t keep_ms) {
  std::lock_guard lock(mu_);
  // Not worth an fsync each (one per webhook delivery and per poll): in WAL mode a commit
  // without it survives a crash of mirrord, and one lost to a power cut costs at most one
  // redundant sync. Every other write of this connection stays synchronous = FULL.
  RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous = NORMAL"));
  struct RestoreFull {
    Db& db;
    ~RestoreFull() { (void)db.Exec("PRAGMA synchronous = FULL"); }
  } restore{db_};
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  {
    ASSIGN_OR_RETURN(Statement d,
                     db_.Prepare("DELETE FROM webhook_deliveries WHERE expires_ms <= ?"));
    RETURN_IF_ERROR(d.BindAll(now_ms));
    RETURN_IF_ERROR(d.Run());
  }
  ASSIGN_OR_RETURN(Statement s, db_.Prepare("INSERT INTO webhook_deliveries (delivery_id, "
                                            "expires_ms) VALUES (?, ?) ON CONFLICT DO NOTHING"));
  RETURN_IF_ERROR(s.BindAll(delivery_id, now_ms + keep_ms));
  RETURN_IF_ERROR(s.Run());
  bool fresh = db_.Changes() > 0;
  RETURN_IF_ERROR(txn.Commit());
  return fresh;
}

}  // namespace mirrord
