#include "storage/repo_fence.h"

#include <string>

namespace mirrord {
namespace {

Result<int64_t> ReadFence(Db& db, int64_t repo_id) {
  ASSIGN_OR_RETURN(Statement s, db.Prepare("SELECT fence FROM repos WHERE id = ?"));
  RETURN_IF_ERROR(s.BindAll(repo_id));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("repository " + std::to_string(repo_id) + " is not in the catalog");
  return s.ColumnInt64(0);
}

Status Stale(int64_t repo_id, int64_t token, int64_t fence) {
  return Cancelled("stale fencing token " + std::to_string(token) + " for repository " +
                   std::to_string(repo_id) + " (a newer lease holds " + std::to_string(fence) +
                   "): another node owns its sync now; nothing written");
}

}  // namespace

Status AdvanceRepoFence(Db& db, int64_t repo_id, int64_t token) {
  if (token == 0) return Status::Ok();
  ASSIGN_OR_RETURN(int64_t fence, ReadFence(db, repo_id));
  if (fence > token) return Stale(repo_id, token, fence);
  if (fence == token) return Status::Ok();
  ASSIGN_OR_RETURN(Statement u, db.Prepare("UPDATE repos SET fence = ? WHERE id = ?"));
  RETURN_IF_ERROR(u.BindAll(token, repo_id));
  return u.Run().WithContext("advance the fence of repository " + std::to_string(repo_id));
}

Status RaiseRepoFence(Db& db, int64_t repo_id, int64_t floor) {
  ASSIGN_OR_RETURN(Statement u, db.Prepare("UPDATE repos SET fence = max(fence, ?) WHERE id = ?"));
  RETURN_IF_ERROR(u.BindAll(floor, repo_id));
  return u.Run().WithContext("raise the fence of repository " + std::to_string(repo_id));
}

Status CheckRepoFence(Db& db, int64_t repo_id, int64_t token) {
  if (token == 0) return Status::Ok();
  ASSIGN_OR_RETURN(int64_t fence, ReadFence(db, repo_id));
  if (fence > token) return Stale(repo_id, token, fence);
  return Status::Ok();
}

Result<int64_t> RepoOfRun(Db& db, int64_t run_id) {
  ASSIGN_OR_RETURN(Statement s, db.Prepare("SELECT repo_id FROM sync_runs WHERE id = ?"));
  RETURN_IF_ERROR(s.BindAll(run_id));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("sync run " + std::to_string(run_id) + " does not exist");
  return s.ColumnInt64(0);
}

}  // namespace mirrord
