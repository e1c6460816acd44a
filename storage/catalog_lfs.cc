// The Git LFS part of the Catalog: object states and which published refs reference them.
#include <algorithm>
#include <cstdint>
#include <string>

#include "storage/catalog.h"

namespace mirrord {
namespace {

uint64_t ToCount(int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(0, v)); }

constexpr std::string_view kObjectSelect =
    "SELECT oid, size, state, error, error_code, attempts, quarantined, updated_at, "
    "corrupt_streak, retry_at FROM lfs_objects ";

LfsObjectRecord ReadObject(const Statement& s) {
  LfsObjectRecord r;
  r.oid = s.ColumnText(0);
  r.size = ToCount(s.ColumnInt64(1));
  r.state = s.ColumnText(2);
  r.error = s.ColumnText(3);
  r.error_code = static_cast<int>(s.ColumnInt64(4));
  r.attempts = static_cast<int>(s.ColumnInt64(5));
  r.quarantined = static_cast<int>(s.ColumnInt64(6));
  r.updated_at = s.ColumnInt64(7);
  r.corrupt_streak = static_cast<int>(s.ColumnInt64(8));
  r.retry_at = s.ColumnInt64(9);
  return r;
}

constexpr std::string_view kRefSelect =
    "SELECT r.ref, r.oid, o.size, r.path, r.fetch FROM lfs_refs AS r "
    "JOIN lfs_objects AS o ON o.oid = r.oid ";

LfsRefRecord ReadLfsRef(const Statement& s) {
  return {s.ColumnText(0), s.ColumnText(1), ToCount(s.ColumnInt64(2)), s.ColumnText(3),
          s.ColumnInt64(4) != 0};
}

}  // namespace

Status Catalog::AddLfsObjects(const std::vector<LfsObjectRecord>& objects, int64_t now) {
  for (const LfsObjectRecord& o : objects) {
    if (o.oid.empty()) return InvalidArgument("LFS object with an empty oid");
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare("INSERT OR IGNORE INTO lfs_objects (oid, size, state, updated_at) "
                               "VALUES (?, ?, 'pending', ?)"));
  for (const LfsObjectRecord& o : objects) {
    RETURN_IF_ERROR(insert.BindAll(o.oid, o.size, now));
    RETURN_IF_ERROR(insert.Run().WithContext("record LFS object " + o.oid));
    RETURN_IF_ERROR(insert.Reset());
  }
  return txn.Commit().WithContext("record LFS objects");
}

Result<LfsObjectRecord> Catalog::GetLfsObject(std::string_view oid) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kObjectSelect) + "WHERE oid = ?"));
  RETURN_IF_ERROR(stmt.BindAll(oid));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("LFS object " + std::string(oid) + " is not in the catalog");
  return ReadObject(stmt);
}

Status Catalog::UpdateLfsObject(std::string_view oid, std::string_view sql_set, int64_t now) {
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("UPDATE lfs_objects SET " + std::string(sql_set) +
                                               ", updated_at = ? WHERE oid = ?"));
  RETURN_IF_ERROR(stmt.BindAll(now, oid));
  RETURN_IF_ERROR(stmt.Run().WithContext("update LFS object " + std::string(oid)));
  if (db_.Changes() == 0) {
    return NotFound("LFS object " + std::string(oid) + " is not in the catalog");
  }
  return Status::Ok();
}

Status Catalog::MarkLfsObjectPresent(std::string_view oid, int64_t now) {
  std::lock_guard lock(mu_);
  return UpdateLfsObject(
      oid, "state = 'present', error = '', error_code = 0, corrupt_streak = 0, retry_at = 0", now);
}

Status Catalog::MarkLfsObjectFailed(std::string_view oid, std::string_view error, int error_code,
                                    int64_t now) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("UPDATE lfs_objects SET state = CASE WHEN state = 'present' THEN "
                               "'present' ELSE 'failed' END, error = ?, error_code = ?, "
                               "updated_at = ? WHERE oid = ?"));
  RETURN_IF_ERROR(stmt.BindAll(error, error_code, now, oid));
  RETURN_IF_ERROR(stmt.Run().WithContext("update LFS object " + std::string(oid)));
  if (db_.Changes() == 0) {
    return NotFound("LFS object " + std::string(oid) + " is not in the catalog");
  }
  return Status::Ok();
}

Status Catalog::CountLfsAttempt(std::string_view oid, int64_t now) {
  std::lock_guard lock(mu_);
  return UpdateLfsObject(oid, "attempts = attempts + 1", now);
}

Status Catalog::CountLfsQuarantine(std::string_view oid, int64_t now) {
  std::lock_guard lock(mu_);
  return UpdateLfsObject(oid, "quarantined = quarantined + 1", now);
}

Result<LfsObjectRecord> Catalog::RecordLfsCorruption(std::string_view oid, int64_t now,
                                                     int64_t first_delay, int64_t max_delay) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement get, db_.Prepare(std::string(kObjectSelect) + "WHERE oid = ?"));
  RETURN_IF_ERROR(get.BindAll(oid));
  ASSIGN_OR_RETURN(bool row, get.Step());
  if (!row) return NotFound("LFS object " + std::string(oid) + " is not in the catalog");
  LfsObjectRecord r = ReadObject(get);
  r.corrupt_streak = std::max(0, r.corrupt_streak) + 1;
  if (r.corrupt_streak < 2) {
    r.retry_at = 0;  // once may be a passing glitch: the next sync tries again
  } else {
    // first_delay << (streak - 2), saturating at max_delay without overflowing.
    int64_t delay = std::max<int64_t>(1, first_delay);
    for (int i = 2; i < r.corrupt_streak && delay < max_delay; ++i) delay *= 2;
    delay = std::min(delay, std::max<int64_t>(1, max_delay));
    r.retry_at = now + delay;
  }
  r.updated_at = now;
  ASSIGN_OR_RETURN(Statement set,
                   db_.Prepare("UPDATE lfs_objects SET corrupt_streak = ?, retry_at = ?, "
                               "updated_at = ? WHERE oid = ?"));
  RETURN_IF_ERROR(set.BindAll(r.corrupt_streak, r.retry_at, now, oid));
  RETURN_IF_ERROR(set.Run().WithContext("update LFS object " + std::string(oid)));
  RETURN_IF_ERROR(txn.Commit().WithContext("record corruption of LFS object " + std::string(oid)));
  return r;
}

Status Catalog::ReplaceLfsRefsLocked(int64_t repo_id, const std::vector<LfsRefRecord>& lfs_refs) {
  {
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM lfs_refs WHERE repo_id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(repo_id));
    RETURN_IF_ERROR(stmt.Run().WithContext("publish LFS references"));
  }
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare("INSERT OR IGNORE INTO lfs_refs (repo_id, ref, oid, path, fetch) "
                               "VALUES (?, ?, ?, ?, ?)"));
  for (const LfsRefRecord& r : lfs_refs) {
    if (r.ref.empty() || r.oid.empty()) {
      return InvalidArgument("LFS reference with an empty ref or oid");
    }
    RETURN_IF_ERROR(insert.BindAll(repo_id, r.ref, r.oid, r.path, r.fetch ? 1 : 0));
    RETURN_IF_ERROR(insert.Run().WithContext("publish LFS reference " + r.oid));
    RETURN_IF_ERROR(insert.Reset());
  }
  // Every referenced object must be known, so that serving can check its state and size.
  ASSIGN_OR_RETURN(Statement orphans,
                   db_.Prepare("SELECT r.oid FROM lfs_refs AS r LEFT JOIN lfs_objects AS o "
                               "ON o.oid = r.oid WHERE r.repo_id = ? AND o.oid IS NULL LIMIT 1"));
  RETURN_IF_ERROR(orphans.BindAll(repo_id));
  ASSIGN_OR_RETURN(bool orphan, orphans.Step());
  if (orphan) {
    return FailedPrecondition("LFS object " + orphans.ColumnText(0) +
                              " is referenced but not recorded in lfs_objects");
  }
  return Status::Ok();
}

Result<std::optional<LfsRefRecord>> Catalog::FindLfsRef(int64_t repo_id, std::string_view oid) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kRefSelect) +
                               "WHERE r.repo_id = ? AND r.oid = ? ORDER BY r.ref LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id, oid));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<LfsRefRecord>();
  return std::optional<LfsRefRecord>(ReadLfsRef(stmt));
}

Result<std::vector<LfsRefRecord>> Catalog::GetLfsRefs(int64_t repo_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kRefSelect) +
                                               "WHERE r.repo_id = ? ORDER BY r.ref, r.oid"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id));
  std::vector<LfsRefRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ReadLfsRef(stmt));
  }
}

Result<LfsRepoUsage> Catalog::GetLfsUsage(int64_t repo_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT count(*), coalesce(sum(o.size), 0), "
                  "coalesce(sum(o.state = 'present'), 0), "
                  "coalesce(sum(CASE WHEN o.state = 'present' THEN o.size ELSE 0 END), 0), "
                  "coalesce(sum(o.state = 'failed'), 0) "
                  "FROM lfs_objects AS o WHERE o.oid IN "
                  "(SELECT DISTINCT oid FROM lfs_refs WHERE repo_id = ?)"));
  RETURN_IF_ERROR(stmt.BindAll(repo_id));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("LFS usage query returned no row");
  return LfsRepoUsage{ToCount(stmt.ColumnInt64(0)), ToCount(stmt.ColumnInt64(1)),
                      ToCount(stmt.ColumnInt64(2)), ToCount(stmt.ColumnInt64(3)),
                      ToCount(stmt.ColumnInt64(4))};
}

}  // namespace mirrord
