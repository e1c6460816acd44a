// The garbage-collection part of the Catalog: pins of syncs in progress, the mark (which LFS
// objects are referenced, and since when the others are not) and the sweep's re-check.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "storage/catalog.h"

namespace mirrord {
namespace {

uint64_t ToCount(int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(0, v)); }

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Every run of exactly 64 lowercase hex digits in `text`: the oids a tar layer spec names.
// Reading more than the "oid" fields can only keep more, never less.
void CollectHexRuns(std::string_view text, std::set<std::string, std::less<>>* out) {
  size_t i = 0;
  while (i < text.size()) {
    if (!IsLowerHex(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && IsLowerHex(text[j])) ++j;
    if (j - i == 64) out->emplace(text.substr(i, 64));
    i = j;
  }
}

// The SQL condition "the object `?1` is referenced at time `?2`", for lfs_objects rows.
// Kept beside ImageReferencedOidsLocked: both say what "referenced by an image" means.
constexpr std::string_view kReferencedOne =
    "(EXISTS (SELECT 1 FROM lfs_refs WHERE oid = ?1) "
    "OR EXISTS (SELECT 1 FROM lfs_pins WHERE oid = ?1 AND expires_at > ?2) "
    "OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob = 'sha256:' || ?1) "
    "OR EXISTS (SELECT 1 FROM tar_layers AS t WHERE instr(t.spec, ?1) > 0 "
    "AND t.digest IN (SELECT blob FROM manifest_blobs)))";

}  // namespace

Status Catalog::PinLfsObjects(std::string_view holder, const std::vector<std::string>& oids,
                              int64_t expires_at) {
  if (holder.empty()) return InvalidArgument("LFS pin with an empty holder");
  for (const std::string& oid : oids) {
    if (oid.empty()) return InvalidArgument("LFS pin of an empty oid");
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare("INSERT INTO lfs_pins (holder, oid, expires_at) VALUES (?, ?, ?) "
                               "ON CONFLICT (holder, oid) DO UPDATE SET expires_at = "
                               "excluded.expires_at"));
  for (const std::string& oid : oids) {
    RETURN_IF_ERROR(insert.BindAll(holder, oid, expires_at));
    RETURN_IF_ERROR(insert.Run().WithContext("pin LFS object " + oid));
    RETURN_IF_ERROR(insert.Reset());
  }
  return txn.Commit().WithContext("pin LFS objects for " + std::string(holder));
}

Status Catalog::UnpinLfsObjects(std::string_view holder) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM lfs_pins WHERE holder = ?"));
  RETURN_IF_ERROR(stmt.BindAll(holder));
  return stmt.Run().WithContext("unpin LFS objects of " + std::string(holder));
}

Result<std::set<std::string, std::less<>>> Catalog::ImageReferencedOidsLocked() {
  std::set<std::string, std::less<>> oids;
  {
    // Raw layers of model artifacts: the layer digest is the object's SHA-256.
    ASSIGN_OR_RETURN(Statement stmt,
                     db_.Prepare("SELECT DISTINCT substr(blob, 8) FROM manifest_blobs "
                                 "WHERE blob LIKE 'sha256:%' AND length(blob) = 71"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      oids.insert(stmt.ColumnText(0));
    }
  }
  // Generated tar layers: their spec names the objects they wrap.
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT spec FROM tar_layers WHERE digest IN "
                                               "(SELECT blob FROM manifest_blobs)"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    CollectHexRuns(stmt.ColumnText(0), &oids);
  }
  return oids;
}

Result<LfsGcMark> Catalog::MarkLfsObjects(int64_t now) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(auto image_oids, ImageReferencedOidsLocked());
  RETURN_IF_ERROR(
      db_.Exec("CREATE TEMP TABLE IF NOT EXISTS gc_marked (oid TEXT PRIMARY KEY) "
               "WITHOUT ROWID"));
  RETURN_IF_ERROR(db_.Exec("DELETE FROM temp.gc_marked"));
  {
    ASSIGN_OR_RETURN(Statement insert,
                     db_.Prepare("INSERT OR IGNORE INTO temp.gc_marked (oid) VALUES (?)"));
    for (const std::string& oid : image_oids) {
      RETURN_IF_ERROR(insert.BindAll(oid));
      RETURN_IF_ERROR(insert.Run());
      RETURN_IF_ERROR(insert.Reset());
    }
    ASSIGN_OR_RETURN(Statement refs, db_.Prepare("INSERT OR IGNORE INTO temp.gc_marked (oid) "
                                                 "SELECT oid FROM lfs_refs UNION "
                                                 "SELECT oid FROM lfs_pins WHERE expires_at > ?"));
    RETURN_IF_ERROR(refs.BindAll(now));
    RETURN_IF_ERROR(refs.Run().WithContext("mark referenced LFS objects"));
  }
  ASSIGN_OR_RETURN(Statement update,
                   db_.Prepare("UPDATE lfs_objects SET unreferenced_since = CASE "
                               "WHEN oid IN (SELECT oid FROM temp.gc_marked) THEN 0 "
                               "WHEN unreferenced_since = 0 THEN ? "
                               "ELSE unreferenced_since END"));
  RETURN_IF_ERROR(update.BindAll(now));
  RETURN_IF_ERROR(update.Run().WithContext("mark LFS objects"));
  ASSIGN_OR_RETURN(
      Statement count,
      db_.Prepare("SELECT coalesce(sum(unreferenced_since = 0), 0), "
                  "coalesce(sum(CASE WHEN unreferenced_since = 0 THEN size ELSE 0 END), 0), "
                  "coalesce(sum(unreferenced_since != 0), 0), "
                  "coalesce(sum(CASE WHEN unreferenced_since != 0 THEN size ELSE 0 END), 0) "
                  "FROM lfs_objects"));
  ASSIGN_OR_RETURN(bool row, count.Step());
  if (!row) return Internal("LFS mark count returned no row");
  LfsGcMark mark{ToCount(count.ColumnInt64(0)), ToCount(count.ColumnInt64(1)),
                 ToCount(count.ColumnInt64(2)), ToCount(count.ColumnInt64(3))};
  RETURN_IF_ERROR(count.Reset());
  RETURN_IF_ERROR(db_.Exec("DELETE FROM temp.gc_marked"));
  // Pins whose holder died are of no use any more.
  ASSIGN_OR_RETURN(Statement expired, db_.Prepare("DELETE FROM lfs_pins WHERE expires_at <= ?"));
  RETURN_IF_ERROR(expired.BindAll(now));
  RETURN_IF_ERROR(expired.Run());
  RETURN_IF_ERROR(txn.Commit().WithContext("mark LFS objects"));
  return mark;
}

Result<std::vector<LfsGcCandidate>> Catalog::ListLfsGcCandidates(int64_t cutoff, size_t limit) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("SELECT oid, size, state, unreferenced_since FROM lfs_objects "
                               "WHERE unreferenced_since != 0 AND unreferenced_since <= ? "
                               "ORDER BY unreferenced_since, oid LIMIT ?"));
  RETURN_IF_ERROR(stmt.BindAll(cutoff, limit == 0 ? int64_t{-1} : static_cast<int64_t>(limit)));
  std::vector<LfsGcCandidate> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back({stmt.ColumnText(0), ToCount(stmt.ColumnInt64(1)), stmt.ColumnText(2),
                   stmt.ColumnInt64(3)});
  }
}

Result<bool> Catalog::SweepLfsObject(std::string_view oid, int64_t cutoff, int64_t now,
                                     const std::function<Status()>& remove_data) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement check,
                   db_.Prepare("SELECT 1 FROM lfs_objects WHERE oid = ?1 AND "
                               "unreferenced_since != 0 AND unreferenced_since <= ?3 AND NOT " +
                               std::string(kReferencedOne)));
  RETURN_IF_ERROR(check.BindAll(oid, now, cutoff));
  ASSIGN_OR_RETURN(bool qualifies, check.Step());
  RETURN_IF_ERROR(check.Reset());
  if (!qualifies) return false;  // referenced again, or unknown: the transaction rolls back
  RETURN_IF_ERROR(remove_data().WithContext("sweep LFS object " + std::string(oid)));
  ASSIGN_OR_RETURN(Statement del, db_.Prepare("DELETE FROM lfs_objects WHERE oid = ?"));
  RETURN_IF_ERROR(del.BindAll(oid));
  RETURN_IF_ERROR(del.Run().WithContext("forget swept LFS object " + std::string(oid)));
  RETURN_IF_ERROR(txn.Commit().WithContext("sweep LFS object " + std::string(oid)));
  return true;
}

Status Catalog::MarkLfsObjectMissing(std::string_view oid, int64_t now) {
  std::lock_guard lock(mu_);
  return UpdateLfsObject(oid, "state = 'pending'", now);
}

Result<std::optional<std::pair<std::string, LfsRefRecord>>> Catalog::FindLfsReferrer(
    std::string_view oid) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("SELECT p.name, r.ref, r.oid, o.size, r.path, r.fetch "
                               "FROM lfs_refs AS r JOIN repos AS p ON p.id = r.repo_id "
                               "JOIN lfs_objects AS o ON o.oid = r.oid WHERE r.oid = ? "
                               "ORDER BY p.name, r.ref LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(oid));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  using Found = std::optional<std::pair<std::string, LfsRefRecord>>;
  if (!row) return Found();
  return Found(std::in_place, stmt.ColumnText(0),
               LfsRefRecord{stmt.ColumnText(1), stmt.ColumnText(2), ToCount(stmt.ColumnInt64(3)),
                            stmt.ColumnText(4), stmt.ColumnInt64(5) != 0});
}

}  // namespace mirrord
