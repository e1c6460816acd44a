// The build-stage part of the Catalog: the digest cache of generated tar layers, the tags
// the registry front end serves, and which blobs each manifest references.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "storage/catalog.h"

namespace mirrord {
namespace {

int64_t ToSqlInt(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}
uint64_t ToCount(int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(0, v)); }
// LIMIT -1 is "no limit" in SQLite.
int64_t SqlLimit(size_t limit) { return limit == 0 ? -1 : static_cast<int64_t>(limit); }

constexpr std::string_view kLayerSelect =
    "SELECT spec_key, digest, size, spec, created_at FROM tar_layers ";

TarLayerRecord ReadLayer(const Statement& s) {
  return {s.ColumnText(0), s.ColumnText(1), ToCount(s.ColumnInt64(2)), s.ColumnText(3),
          s.ColumnInt64(4)};
}

constexpr std::string_view kImageSelect =
    "SELECT name, tag, digest, media_type, kind, build, ref, \"commit\", size, created_at, "
    "built_at, docker_digest FROM images ";

ImageRecord ReadImage(const Statement& s) {
  ImageRecord r;
  r.name = s.ColumnText(0);
  r.tag = s.ColumnText(1);
  r.digest = s.ColumnText(2);
  r.media_type = s.ColumnText(3);
  r.kind = s.ColumnText(4);
  r.build = s.ColumnText(5);
  r.ref = s.ColumnText(6);
  r.commit = s.ColumnText(7);
  r.size = ToCount(s.ColumnInt64(8));
  r.created_at = s.ColumnInt64(9);
  r.built_at = s.ColumnInt64(10);
  r.docker_digest = s.ColumnText(11);
  return r;
}

Result<std::optional<TarLayerRecord>> OneLayer(Statement& stmt) {
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<TarLayerRecord>();
  return std::optional<TarLayerRecord>(ReadLayer(stmt));
}

}  // namespace

Result<std::optional<TarLayerRecord>> Catalog::GetTarLayer(std::string_view spec_key) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kLayerSelect) + "WHERE spec_key = ?"));
  RETURN_IF_ERROR(stmt.BindAll(spec_key));
  return OneLayer(stmt);
}

Result<std::optional<TarLayerRecord>> Catalog::FindTarLayerByDigest(std::string_view digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kLayerSelect) +
                                               "WHERE digest = ? ORDER BY spec_key LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(digest));
  return OneLayer(stmt);
}

Status Catalog::PutTarLayer(const TarLayerRecord& layer) {
  if (layer.spec_key.empty() || layer.digest.empty() || layer.spec.empty()) {
    return InvalidArgument("tar layer record without key, digest or spec");
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("INSERT OR IGNORE INTO tar_layers "
                               "(spec_key, digest, size, spec, created_at) VALUES (?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt.BindAll(layer.spec_key, layer.digest, ToSqlInt(layer.size), layer.spec,
                               layer.created_at));
  return stmt.Run().WithContext("record tar layer " + layer.digest);
}

Status Catalog::PutImages(const std::vector<ImageRecord>& tags,
                          const std::vector<std::pair<std::string, std::string>>& manifest_blobs) {
  for (const ImageRecord& r : tags) {
    if (r.name.empty() || r.tag.empty() || r.digest.empty()) {
      return InvalidArgument("image record without name, tag or digest");
    }
    if (r.kind != "image" && r.kind != "model") {
      return InvalidArgument("image kind must be image or model, not " + r.kind);
    }
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(Statement blob, db_.Prepare("INSERT OR IGNORE INTO manifest_blobs "
                                               "(manifest, blob) VALUES (?, ?)"));
  for (const auto& [manifest, digest] : manifest_blobs) {
    RETURN_IF_ERROR(blob.BindAll(manifest, digest));
    RETURN_IF_ERROR(blob.Run().WithContext("record blob " + digest));
    RETURN_IF_ERROR(blob.Reset());
  }
  ASSIGN_OR_RETURN(
      Statement put,
      db_.Prepare("INSERT OR REPLACE INTO images (name, tag, digest, media_type, kind, build, "
                  "ref, \"commit\", size, created_at, built_at, docker_digest) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  for (const ImageRecord& r : tags) {
    RETURN_IF_ERROR(put.BindAll(r.name, r.tag, r.digest, r.media_type, r.kind, r.build, r.ref,
                                r.commit, ToSqlInt(r.size), r.created_at, r.built_at,
                                r.docker_digest));
    RETURN_IF_ERROR(put.Run().WithContext("record image " + r.name + ":" + r.tag));
    RETURN_IF_ERROR(put.Reset());
  }
  return txn.Commit().WithContext("record images");
}

Result<ImageRecord> Catalog::GetImage(std::string_view name, std::string_view tag) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kImageSelect) + "WHERE name = ? AND tag = ?"));
  RETURN_IF_ERROR(stmt.BindAll(name, tag));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("image " + std::string(name) + ":" + std::string(tag) + " not found");
  return ReadImage(stmt);
}

Result<std::vector<ImageRecord>> Catalog::ListImages(std::string_view name,
                                                     std::string_view after, size_t limit) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kImageSelect) +
                               "WHERE name = ? AND tag > ? ORDER BY tag LIMIT ?"));
  RETURN_IF_ERROR(stmt.BindAll(name, after, SqlLimit(limit)));
  std::vector<ImageRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ReadImage(stmt));
  }
}

Result<std::vector<std::string>> Catalog::ListImageNames(std::string_view after, size_t limit) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("SELECT DISTINCT name FROM images WHERE name > ? "
                               "ORDER BY name LIMIT ?"));
  RETURN_IF_ERROR(stmt.BindAll(after, SqlLimit(limit)));
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(stmt.ColumnText(0));
  }
}

Result<std::optional<ImageRecord>> Catalog::FindManifest(std::string_view name,
                                                         std::string_view digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare(std::string(kImageSelect) +
                               "WHERE name = ?1 AND (digest = ?2 OR docker_digest = ?2) LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(name, digest));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<ImageRecord>();
  return std::optional<ImageRecord>(ReadImage(stmt));
}

Result<bool> Catalog::NameReferencesBlob(std::string_view name, std::string_view digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("SELECT 1 FROM images WHERE name = ?1 AND digest = ?2 "
                               "UNION ALL SELECT 1 FROM manifest_blobs AS b "
                               "JOIN images AS i ON i.digest = b.manifest "
                               "WHERE b.blob = ?2 AND i.name = ?1 LIMIT 1"));
  RETURN_IF_ERROR(stmt.BindAll(name, digest));
  return stmt.Step();
}

Result<std::vector<ImageRecord>> Catalog::UnlistOldImages(std::string_view build,
                                                          std::string_view ref, size_t keep) {
  if (keep < 1) return InvalidArgument("retention must keep at least one image per ref");
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  // Commits by their newest build, newest first; ties by commit id so the order is total.
  ASSIGN_OR_RETURN(Statement commits,
                   db_.Prepare("SELECT \"commit\" FROM images WHERE build = ?1 AND ref = ?2 "
                               "GROUP BY \"commit\" ORDER BY MAX(built_at) DESC, \"commit\" DESC "
                               "LIMIT -1 OFFSET ?3"));
  RETURN_IF_ERROR(commits.BindAll(build, ref, static_cast<int64_t>(keep)));
  std::vector<std::string> dropped_commits;
  while (true) {
    ASSIGN_OR_RETURN(bool row, commits.Step());
    if (!row) break;
    dropped_commits.push_back(commits.ColumnText(0));
  }
  std::vector<ImageRecord> dropped;
  if (dropped_commits.empty()) return dropped;
  ASSIGN_OR_RETURN(Statement rows,
                   db_.Prepare(std::string(kImageSelect) +
                               "WHERE build = ?1 AND ref = ?2 AND \"commit\" = ?3 "
                               "ORDER BY name, tag"));
  ASSIGN_OR_RETURN(Statement del, db_.Prepare("DELETE FROM images WHERE build = ?1 AND ref = ?2 "
                                              "AND \"commit\" = ?3"));
  for (const std::string& commit : dropped_commits) {
    RETURN_IF_ERROR(rows.BindAll(build, ref, commit));
    while (true) {
      ASSIGN_OR_RETURN(bool row, rows.Step());
      if (!row) break;
      dropped.push_back(ReadImage(rows));
    }
    RETURN_IF_ERROR(rows.Reset());
    RETURN_IF_ERROR(del.BindAll(build, ref, commit));
    RETURN_IF_ERROR(del.Run().WithContext("unlist images of " + commit));
    RETURN_IF_ERROR(del.Reset());
  }
  RETURN_IF_ERROR(txn.Commit().WithContext("unlist old images"));
  return dropped;
}

namespace {

// Manifests some tag names, as a SQL common table expression `listed(m)`, and what they
// reference, `kept(d)`.
constexpr std::string_view kListedCte =
    "WITH listed(m) AS (SELECT digest FROM images UNION "
    "SELECT docker_digest FROM images WHERE docker_digest <> ''), "
    "kept(d) AS (SELECT m FROM listed UNION "
    "SELECT blob FROM manifest_blobs WHERE manifest IN (SELECT m FROM listed)) ";

}  // namespace

Result<UnlistedBlobs> Catalog::FindUnlistedBlobs() {
  std::lock_guard lock(mu_);
  UnlistedBlobs out;
  ASSIGN_OR_RETURN(Statement manifests,
                   db_.Prepare(std::string(kListedCte) +
                               "SELECT DISTINCT manifest FROM manifest_blobs "
                               "WHERE manifest NOT IN (SELECT m FROM listed) ORDER BY manifest"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, manifests.Step());
    if (!row) break;
    out.manifests.push_back(manifests.ColumnText(0));
  }
  ASSIGN_OR_RETURN(
      Statement blobs,
      db_.Prepare(std::string(kListedCte) +
                  ", unlisted(m) AS (SELECT DISTINCT manifest FROM manifest_blobs "
                  "WHERE manifest NOT IN (SELECT m FROM listed)), "
                  "candidates(d) AS (SELECT m FROM unlisted UNION "
                  "SELECT blob FROM manifest_blobs WHERE manifest IN (SELECT m FROM unlisted)) "
                  "SELECT d FROM candidates WHERE d NOT IN (SELECT d FROM kept) ORDER BY d"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, blobs.Step());
    if (!row) break;
    out.blobs.push_back(blobs.ColumnText(0));
  }
  return out;
}

Status Catalog::ForgetUnlisted(const UnlistedBlobs& unlisted) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  // Runs `sql` (one parameter) for each of `keys`.
  auto for_each = [this](std::string_view sql, const std::vector<std::string>& keys,
                         std::string_view what) -> Status {
    ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kListedCte) + std::string(sql)));
    for (const std::string& k : keys) {
      RETURN_IF_ERROR(stmt.BindAll(k));
      RETURN_IF_ERROR(stmt.Run().WithContext(std::string(what) + " " + k));
      RETURN_IF_ERROR(stmt.Reset());
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(for_each("DELETE FROM tar_layers WHERE digest = ?1 "
                           "AND ?1 NOT IN (SELECT d FROM kept)",
                           unlisted.blobs, "forget tar layer"));
  RETURN_IF_ERROR(for_each("DELETE FROM manifest_blobs WHERE manifest = ?1 "
                           "AND ?1 NOT IN (SELECT m FROM listed)",
                           unlisted.manifests, "forget manifest"));
  return txn.Commit().WithContext("forget unlisted images");
}

}  // namespace mirrord
