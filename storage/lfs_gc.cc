#include "storage/lfs_gc.h"

#include "common/log.h"

namespace mirrord {
namespace {

// Store files without a catalog row get one (present, unreferenced from this mark on).
Result<uint64_t> AdoptUnrecordedFiles(Catalog& catalog, BlobStore& store, int64_t now) {
  ASSIGN_OR_RETURN(std::vector<BlobStore::StoredObject> files, store.ListObjects());
  std::vector<LfsObjectRecord> unrecorded;
  for (const BlobStore::StoredObject& f : files) {
    Result<LfsObjectRecord> known = catalog.GetLfsObject(f.oid);
    if (known.ok()) continue;
    if (known.status().code() != StatusCode::kNotFound) return known.status();
    LfsObjectRecord r;
    r.oid = f.oid;
    r.size = f.size;
    unrecorded.push_back(std::move(r));
  }
  if (unrecorded.empty()) return uint64_t{0};
  RETURN_IF_ERROR(catalog.AddLfsObjects(unrecorded, now));
  for (const LfsObjectRecord& r : unrecorded) {
    RETURN_IF_ERROR(catalog.MarkLfsObjectPresent(r.oid, now));
  }
  return static_cast<uint64_t>(unrecorded.size());
}

}  // namespace

Result<LfsGcReport> CollectLfsGarbage(Catalog& catalog, BlobStore& store, int64_t now,
                                      const LfsGcOptions& options) {
  LfsGcReport report;
  ASSIGN_OR_RETURN(report.adopted, AdoptUnrecordedFiles(catalog, store, now));
  ASSIGN_OR_RETURN(report.mark, catalog.MarkLfsObjects(now));
  if (options.after_mark) options.after_mark();
  const int64_t cutoff = now - static_cast<int64_t>(options.grace.count());
  ASSIGN_OR_RETURN(std::vector<LfsGcCandidate> unreferenced, catalog.ListLfsGcCandidates(now));
  std::vector<LfsGcCandidate> candidates;
  for (LfsGcCandidate& c : unreferenced) {
    if (options.only && !options.only->contains(c.oid)) continue;
    if (c.unreferenced_since > cutoff) {
      ++report.in_grace_objects;
      report.in_grace_bytes += c.size;
      continue;
    }
    candidates.push_back(std::move(c));
  }
  if (options.dry_run) {
    for (LfsGcCandidate& c : candidates) {
      report.swept_bytes += c.size;
      report.swept.push_back(std::move(c));
    }
    return report;
  }
  for (LfsGcCandidate& c : candidates) {
    if (options.before_sweep) options.before_sweep(c);
    uint64_t freed = 0;
    Result<bool> swept = catalog.SweepLfsObject(c.oid, cutoff, now, [&]() -> Status {
      Result<uint64_t> removed = store.RemoveObject(c.oid);
      if (removed.ok()) {
        freed = *removed;
        return Status::Ok();
      }
      // Never stored (pending, failed) or already removed by an interrupted sweep.
      if (removed.status().code() == StatusCode::kNotFound) return Status::Ok();
      return removed.status();
    });
    if (!swept.ok()) return swept.status();
    if (!*swept) {
      ++report.kept_on_recheck;
      continue;
    }
    MLOG(Info) << "gc: swept LFS object " << c.oid << " (" << freed << " bytes, unreferenced "
               << "since " << c.unreferenced_since << ")";
    report.swept_bytes += freed;
    report.swept.push_back(std::move(c));
  }
  return report;
}

}  // namespace mirrord
