// VerifyService: verification at rest. `mirrorctl verify [NAME]` (POST /api/v1/verify) runs
// `git fsck` of the mirror(s) and re-hashes every LFS object the repo references (without a
// name: every mirror and every object in the store); a background scrub re-hashes the whole
// store at most [verify] rate bytes per second, a pass starting every [verify] interval.
//
// An object whose bytes no longer hash to its oid is quarantined: moved out of objects/ in
// one rename (BlobStore::QuarantineObject), so it is never served from then on (a request
// finds it absent and gets the protocol's answer for a missing object, or the pull-through
// fetch); then it is fetched again from the upstream of a repo that references it (the LFS
// download path, verified while downloading). When that upstream answers that it no longer
// has the object (per-object 404/410/422) the object is reported lost: the catalog records
// the failure, which the LFS batch API answers as the upstream's per-object error. Any other
// refetch failure leaves it quarantined for the next sync or client request to fetch.
// A damaged mirror (git fsck fails) is reported and counted; it is not repaired here.
//
// Metrics (daemon/gc_metrics.h): bytes scrubbed, corrupt objects found, objects lost.
// Thread-safety: Verify may be called from any thread (runs are serialised); Start/Stop
// from the owning thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "daemon/gc_metrics.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// One corrupt object and what became of it.
struct CorruptObject {
  std::string oid;
  uint64_t size = 0;
  std::string repo;     // the repo it was fetched again for ("" when none references it)
  std::string outcome;  // "refetched", "lost" (upstream lacks it) or "quarantined" (retry later)
  std::string error;    // why it is not "refetched"
};

struct MirrorCheck {
  std::string repo;
  bool ok = true;
  std::string error;  // git fsck's report when !ok
};

struct VerifyOutcome {
  std::vector<MirrorCheck> mirrors;
  uint64_t objects_checked = 0;
  uint64_t bytes_checked = 0;
  uint64_t objects_absent = 0;  // referenced but not in the store (never fetched, or lost)
  std::vector<CorruptObject> corrupt;
};

// The admin API's answer (README, "mirrorctl verify --json").
std::string VerifyOutcomeJson(const VerifyOutcome& outcome);

class VerifyService {
 public:
  // Fetches an object again for a repo that references it (SyncScheduler::FetchLfsObject).
  using Refetch = std::function<Status(std::string_view repo, const LfsRefRecord& reference)>;

  // Everything passed must outlive the service. `on_quarantined` runs after an object left
  // the store (main.cc drops the HF endpoint's cached "in the store" answers).
  VerifyService(LiveConfig& live, Catalog& catalog, BlobStore& store, Refetch refetch,
                GcMetrics* metrics, std::function<void()> on_quarantined);
  ~VerifyService();
  VerifyService(const VerifyService&) = delete;
  VerifyService& operator=(const VerifyService&) = delete;

  // Verifies repo `name` ("" : every mirror and the whole store) at full speed. On success
  // what was checked and found (corruption is an outcome, not an error). NotFound for an
  // unknown repo; a catalog or disk error otherwise.
  Result<VerifyOutcome> Verify(std::string_view name);

  // Starts the background scrub ([verify] rate and interval, read at each pass).
  void Start();
  void Stop();

 private:
  // Re-hashes the stored object: true when intact, false when corrupt, NotFound when it is
  // not in the store. At most `rate` bytes/s when rate > 0 (Cancelled when stopping).
  Result<bool> Rehash(const std::string& oid, uint64_t size, uint64_t rate, uint64_t* hashed);
  // Quarantines a corrupt object and fetches it again (see the file comment).
  CorruptObject Repair(const std::string& oid, uint64_t size, std::string_view repo);
  // Checks one stored object; appends to `out`.
  Status CheckObject(const std::string& oid, uint64_t size, std::string_view repo, uint64_t rate,
                     VerifyOutcome* out);
  void Scrub();
  // Waits up to `d` or until Stop: false when stopping.
  bool Wait(std::chrono::nanoseconds d);

  LiveConfig& live_;
  Catalog& catalog_;
  BlobStore& store_;
  Refetch refetch_;
  GcMetrics* metrics_;
  std::function<void()> on_quarantined_;
  std::mutex run_mu_;  // one verification (or scrub object) at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mirrord
