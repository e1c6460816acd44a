// Garbage collection of the LFS store: mark every object something still needs, then sweep
// the objects that have stayed unneeded longer than a grace period.
//
// Referenced (kept) means: a published ref of any repo references it (per the repo's LFS
// policy: lfs_refs records what the policy made the sync scan, filtered-out objects
// included, since they are served on first request), a kept image uses it (a raw model layer
// or a generated tar layer naming it, see Catalog's GC section), or a sync in progress
// pinned it (Catalog::PinLfsObjects; downloads in progress are either such a sync's or a
// pull-through of an object a repo references, and live in incomplete/, which the sweep
// never touches). The mark records for every other object since when it is unreferenced
// (lfs_objects.unreferenced_since), so the grace counts from the first mark that found it
// so; an object referenced again meanwhile starts over.
//
// Safety against a sync publishing a reference while the sweep removes the object: a sync
// pins the objects its refs need BEFORE it checks the store for them, and publishes (the
// lfs_refs rows) before it unpins. The sweep re-checks each object and removes its file and
// row inside one catalog transaction under the catalog's lock (Catalog::SweepLfsObject),
// which the pin also takes. So either the pin came first (the re-check sees it and keeps the
// object), or the sweep came first and the file is already gone when the sync looks (it
// fetches the object again). No order publishes a reference to a missing object. This holds
// for every node sharing the catalog file (the lock is SQLite's write lock across
// processes). Files found in objects/ without a catalog row (a crash between publication
// and its record) are recorded as present first, so they get the same grace.
//
// Thread-safety: CollectLfsGarbage may run concurrently with syncs and serving; two
// collections at once are safe (each sweep re-checks) but wasteful: callers run one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

struct LfsGcOptions {
  // Objects unreferenced for longer than this are swept ([gc] grace).
  std::chrono::seconds grace{7 * 86400};
  // Report what would be swept and sweep nothing (the mark still records since when each
  // object is unreferenced: a fact, not a deletion).
  bool dry_run = false;
  // Only these objects are candidates (a purged repo's share); unset: every object.
  std::optional<std::set<std::string, std::less<>>> only;
  // Test seams, run on the calling thread outside any lock: after the mark, and before the
  // sweep of each candidate.
  std::function<void()> after_mark;
  std::function<void(const LfsGcCandidate&)> before_sweep;
};

struct LfsGcReport {
  LfsGcMark mark;                     // counts of the mark (before the sweep)
  std::vector<LfsGcCandidate> swept;  // swept (dry run: would be), oldest first
  uint64_t swept_bytes = 0;           // bytes freed on disk (dry run: their recorded sizes)
  uint64_t kept_on_recheck = 0;       // candidates the sweep's re-check found referenced
  uint64_t adopted = 0;               // store files recorded in the catalog by this run
  uint64_t in_grace_objects = 0;      // unreferenced, not yet past the grace
  uint64_t in_grace_bytes = 0;
};

// One collection at `now` (unix seconds). On success the report says what was (or, dry,
// would be) swept. On failure (catalog or disk error) what was swept before it stays swept
// and the rest stays; running again continues.
Result<LfsGcReport> CollectLfsGarbage(Catalog& catalog, BlobStore& store, int64_t now,
                                      const LfsGcOptions& options);

}  // namespace mirrord
