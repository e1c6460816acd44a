// The push-run part of the Catalog: a push job's run is a sync_runs row of kind 'push'
// (state, times, error and failure as for syncs) plus a push_runs row (what it pushes where,
// and what it sent).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "storage/catalog.h"
#include "storage/catalog_values.h"

namespace mirrord {
namespace {

using catalog_values::JoinTags;
using catalog_values::SplitTags;
using catalog_values::ToSqlInt;

constexpr std::string_view kPushSelect =
    "SELECT p.run_id, p.image, p.digest, p.model_digest, p.registry, p.repository, p.tags, "
    "p.model_tags, p.bytes_sent, p.blobs_skipped, p.blobs_mounted, p.blobs_uploaded, "
    "p.uploads_resumed, p.duration_ms, o.name, r.\"trigger\", r.state, r.error, r.queued_at, "
    "r.started_at, r.finished_at FROM push_runs AS p JOIN sync_runs AS r ON r.id = p.run_id "
    "JOIN repos AS o ON o.id = r.repo_id ";

PushRunRecord ReadPush(const Statement& s) {
  PushRunRecord p;
  p.run_id = s.ColumnInt64(0);
  p.image = s.ColumnText(1);
  p.digest = s.ColumnText(2);
  p.model_digest = s.ColumnText(3);
  p.registry = s.ColumnText(4);
  p.repository = s.ColumnText(5);
  p.tags = SplitTags(s.ColumnText(6));
  p.model_tags = SplitTags(s.ColumnText(7));
  p.bytes_sent = static_cast<uint64_t>(std::max<int64_t>(0, s.ColumnInt64(8)));
  p.blobs_skipped = s.ColumnInt64(9);
  p.blobs_mounted = s.ColumnInt64(10);
  p.blobs_uploaded = s.ColumnInt64(11);
  p.uploads_resumed = s.ColumnInt64(12);
  p.duration_ms = s.ColumnInt64(13);
  p.repo_name = s.ColumnText(14);
  p.trigger = s.ColumnText(15);
  p.state = s.ColumnText(16);
  p.error = s.ColumnText(17);
  p.queued_at = s.ColumnInt64(18);
  p.started_at = s.ColumnInt64(19);
  p.finished_at = s.ColumnInt64(20);
  return p;
}

Status NotAPushRun(int64_t run_id) {
  return NotFound("run " + std::to_string(run_id) + " is not a push run");
}

}  // namespace

Result<int64_t> Catalog::InsertPushRun(int64_t repo_id, std::string_view trigger, int64_t queued_at,
                                       const PushRunRecord& push) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  {
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("INSERT INTO sync_runs (repo_id, \"trigger\", "
                                                 "state, queued_at, kind) "
                                                 "VALUES (?, ?, 'queued', ?, 'push')"));
    RETURN_IF_ERROR(stmt.BindAll(repo_id, trigger, queued_at));
    Status s = stmt.Run();
    if (s.code() == StatusCode::kFailedPrecondition) {
      return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
    }
    RETURN_IF_ERROR(s.WithContext("insert push run"));
  }
  const int64_t run_id = db_.LastInsertRowId();
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("INSERT INTO push_runs (run_id, image, digest, model_digest, "
                                 "registry, repository, tags, model_tags) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(stmt.BindAll(run_id, push.image, push.digest, push.model_digest, push.registry,
                                 push.repository, JoinTags(push.tags), JoinTags(push.model_tags)));
    RETURN_IF_ERROR(stmt.Run().WithContext("insert push run"));
  }
  RETURN_IF_ERROR(txn.Commit().WithContext("insert push run"));
  return run_id;
}

Result<int64_t> Catalog::CopyPushRun(int64_t from, std::string_view trigger, int64_t queued_at) {
  ASSIGN_OR_RETURN(PushRunRecord push, GetPushRun(from));
  int64_t repo_id = 0;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT repo_id FROM sync_runs WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(from));
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotAPushRun(from);
    repo_id = stmt.ColumnInt64(0);
  }
  return InsertPushRun(repo_id, trigger, queued_at, push);
}

Status Catalog::AddPushTags(const PushRunRecord& push) {
  ASSIGN_OR_RETURN(PushRunRecord have, GetPushRun(push.run_id));
  for (const std::string& t : push.tags) {
    if (std::find(have.tags.begin(), have.tags.end(), t) == have.tags.end()) {
      have.tags.push_back(t);
    }
  }
  for (const std::string& t : push.model_tags) {
    if (std::find(have.model_tags.begin(), have.model_tags.end(), t) == have.model_tags.end()) {
      have.model_tags.push_back(t);
    }
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE push_runs SET tags = ?, model_tags = ? WHERE run_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(JoinTags(have.tags), JoinTags(have.model_tags), push.run_id));
  return stmt.Run().WithContext("add push tags to run " + std::to_string(push.run_id));
}

Status Catalog::RecordPushResult(const PushRunRecord& p) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE push_runs SET bytes_sent = ?, blobs_skipped = ?, "
                               "blobs_mounted = ?, blobs_uploaded = ?, uploads_resumed = ?, "
                               "duration_ms = ? WHERE run_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(ToSqlInt(p.bytes_sent), p.blobs_skipped, p.blobs_mounted,
                               p.blobs_uploaded, p.uploads_resumed, p.duration_ms, p.run_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("record push run " + std::to_string(p.run_id)));
  if (db_.Changes() == 0) return NotAPushRun(p.run_id);
  return Status::Ok();
}

Result<PushRunRecord> Catalog::GetPushRun(int64_t run_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kPushSelect) + "WHERE p.run_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotAPushRun(run_id);
  return ReadPush(stmt);
}

Result<std::vector<PushRunRecord>> Catalog::ListPushRuns(std::string_view image, size_t limit) {
  if (limit == 0) limit = 100;
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kPushSelect) +
                               (image.empty() ? "WHERE ? = '' " : "WHERE p.image = ? ") +
                               "ORDER BY p.run_id DESC LIMIT ?"));
  RETURN_IF_ERROR(stmt.BindAll(std::string(image), static_cast<int64_t>(limit)));
  std::vector<PushRunRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(ReadPush(stmt));
  }
  return out;
}

}  // namespace mirrord
