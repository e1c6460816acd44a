// The build-run part of the Catalog: a build job's run is a sync_runs row of kind 'build'
// (state, times and failure as for syncs) plus a build_runs row (what it builds and built).
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

}  // namespace

Result<int64_t> Catalog::InsertBuildRun(int64_t repo_id, std::string_view trigger,
                                        int64_t queued_at, const BuildRunRecord& build) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  {
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("INSERT INTO sync_runs (repo_id, \"trigger\", "
                                                 "state, queued_at, kind) "
                                                 "VALUES (?, ?, 'queued', ?, 'build')"));
    RETURN_IF_ERROR(stmt.BindAll(repo_id, trigger, queued_at));
    Status s = stmt.Run();
    if (s.code() == StatusCode::kFailedPrecondition) {
      return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
    }
    RETURN_IF_ERROR(s.WithContext("insert build run"));
  }
  const int64_t run_id = db_.LastInsertRowId();
  {
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("INSERT INTO build_runs (run_id, build, ref, \"commit\", "
                                 "pushed_at_ms) VALUES (?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(stmt.BindAll(run_id, build.build, build.ref, build.commit, build.pushed_at_ms));
    RETURN_IF_ERROR(stmt.Run().WithContext("insert build run"));
  }
  RETURN_IF_ERROR(txn.Commit().WithContext("insert build run"));
  return run_id;
}

Status Catalog::RecordBuildResult(const BuildRunRecord& b) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE build_runs SET \"commit\" = ?, image_digest = ?, "
                               "image_size = ?, model_digest = ?, model_size = ?, tags = ?, "
                               "layers = ?, hashed_layers = ? WHERE run_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(b.commit, b.image_digest, ToSqlInt(b.image_size), b.model_digest,
                               ToSqlInt(b.model_size), JoinTags(b.tags), b.layers, b.hashed_layers,
                               b.run_id));
  RETURN_IF_ERROR(stmt.Run().WithContext("record build run " + std::to_string(b.run_id)));
  if (db_.Changes() == 0) {
    return NotFound("run " + std::to_string(b.run_id) + " is not a build run");
  }
  return Status::Ok();
}

Result<BuildRunRecord> Catalog::GetBuildRun(int64_t run_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("SELECT run_id, build, ref, \"commit\", pushed_at_ms, "
                               "image_digest, image_size, model_digest, model_size, tags, layers, "
                               "hashed_layers FROM build_runs WHERE run_id = ?"));
  RETURN_IF_ERROR(stmt.BindAll(run_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("run " + std::to_string(run_id) + " is not a build run");
  BuildRunRecord b;
  b.run_id = stmt.ColumnInt64(0);
  b.build = stmt.ColumnText(1);
  b.ref = stmt.ColumnText(2);
  b.commit = stmt.ColumnText(3);
  b.pushed_at_ms = stmt.ColumnInt64(4);
  b.image_digest = stmt.ColumnText(5);
  b.image_size = static_cast<uint64_t>(std::max<int64_t>(0, stmt.ColumnInt64(6)));
  b.model_digest = stmt.ColumnText(7);
  b.model_size = static_cast<uint64_t>(std::max<int64_t>(0, stmt.ColumnInt64(8)));
  b.tags = SplitTags(stmt.ColumnText(9));
  b.layers = stmt.ColumnInt64(10);
  b.hashed_layers = stmt.ColumnInt64(11);
  return b;
}

}  // namespace mirrord
