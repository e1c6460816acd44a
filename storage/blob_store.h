// BlobStore: the content-addressed store of Git LFS objects, one copy per oid whatever
// repos and revisions reference it. Layout under its root (storage.root/lfs):
//
//   objects/ab/cd/<oid>        complete, verified objects (mode 0444); the only thing served
//   incomplete/<oid>.part      a download in progress (preallocated to its full size)
//   incomplete/<oid>.ranges    journal of the byte ranges of .part that are durable
//                              (replaced atomically; a torn or garbled one counts as empty)
//   incomplete/<oid>.written   the same-boot log: ranges written to .part (in the page cache,
//                              maybe not on disk yet), headed by the boot id; trusted only
//                              on the boot that wrote it (see below); replaced by rename
//   quarantine/<oid>.<n>       data that failed verification, kept for the operator within
//                              a byte budget and a per-object cap (oldest dropped first)
//
// Durability (ARCHITECTURE.md): bytes are written to incomplete/, hashed while they arrive,
// made durable (fdatasync) before their range is journalled, and an object becomes visible
// only by rename into objects/ after its size and SHA-256 match, followed by an fsync of
// the directory. A crash at any point leaves either no object or the whole verified object;
// the journal lets the next download continue from the durable ranges.
// Same-boot resume: each WriteAt appends its ranges to the .written log after the bytes are
// in the file (no fsync). A process crash (kill -9) loses neither: both are in the page
// cache, which outlives the process but not the machine. So the next OpenPartial trusts
// the log only when the boot id it was started under (/proc/sys/kernel/random/boot_id)
// is the current one: it fdatasyncs the .part, adds the logged ranges to the fsynced
// journal, and resumes from there; after a reboot (or with a torn or foreign log) only the
// fsynced journal counts. Trusted bytes are hashed again from the file like any resumed
// bytes (no hash state crosses processes), so a wrong one fails verification at Publish.
// Thread-safety: BlobStore is thread-safe. A PartialBlob is owned by one download; its
// WriteAt/CommitRange may be called from several threads for disjoint ranges. A PartialBlob
// may outlive the BlobStore that opened it. One PartialBlob per oid exists at a time: within
// a process by a registry in the store, across processes by an flock on the .part file.
// A second download of an oid waits for the first (OpenPartialWhenFree): the registry
// notifies it when the first PartialBlob is destroyed, and a helper thread blocked in
// flock() notifies it when another process releases the .part (one such thread per oid
// locked elsewhere, whatever the number of waiters).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "common/status.h"

namespace mirrord {

// A half-open byte range [begin, end).
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

class PartialBlob;

struct BlobStoreOptions {
  // Quarantined copies are kept for the operator within these limits: at most
  // `quarantine_per_object` copies of one oid and `quarantine_budget` bytes in all, the
  // oldest dropped first (a single copy larger than the budget is not kept). Every
  // quarantine (and Open) enforces them, so a corrupting upstream cannot fill the disk.
  uint64_t quarantine_budget = uint64_t{1} << 30;
  int quarantine_per_object = 1;
  // A .part locked by another process whose data has not changed for this long is taken to
  // be held by a stopped process (a node frozen or SIGSTOPped, which keeps its flock):
  // OpenPartialWhenFree then downloads into a private partial of its own
  // (incomplete/<oid>.<random>.part, never resumed by anyone else) instead of waiting for
  // ever. The object is content-addressed and verified, so if the stopped process wakes up
  // and publishes too, both publish the same bytes. Its mtime is compared with this host's
  // clock. nullopt: wait as long as it takes.
  std::optional<std::chrono::seconds> stale_part_after;
  // This boot's id, which heads the .written logs and must match for one to be trusted.
  // nullopt: read from /proc/sys/kernel/random/boot_id by Open; empty (or unreadable): no
  // .written log is kept or trusted (resumes use the fsynced journal only). Tests set it.
  std::optional<std::string> boot_id;
};

// How long OpenPartialWhenFree waits for another download of the same oid.
struct BusyWait {
  const std::atomic<bool>* cancel = nullptr;  // set: Cancelled (observed within 100 ms)
  std::optional<std::chrono::steady_clock::time_point> deadline;  // passed: DeadlineExceeded
  // Called once when the call starts waiting (e.g. to log it), from the calling thread.
  std::function<void(std::string_view why)> on_wait;
};

class BlobStore {
 public:
  // Opens (creating if missing) the store at `root`. Leftover temporary files from a crash
  // are removed; partial downloads are kept for resumption; the quarantine is trimmed to
  // `options`' limits.
  static Result<std::unique_ptr<BlobStore>> Open(const std::filesystem::path& root,
                                                 BlobStoreOptions options = {});
  ~BlobStore();

  const std::filesystem::path& root() const { return root_; }

  // True if the complete, verified object is in objects/. False for an invalid oid (anything
  // but 64 lowercase hex digits).
  bool Contains(std::string_view oid) const;
  // Where the object lives (whether or not it is present). `oid` should be valid; an
  // invalid one yields a path under objects/ that no valid object uses.
  std::filesystem::path ObjectPath(std::string_view oid) const;
  // The present object opened read-only. NotFound if absent; InvalidArgument for a bad oid.
  Result<UniqueFd> OpenObject(std::string_view oid) const;

  // Starts or resumes the download of `oid` of `size` bytes. Only one PartialBlob per oid
  // exists at a time: FailedPrecondition while another one, in this process or
  // another, is alive (also after its Publish/Quarantine, until it is destroyed).
  // AlreadyExists if the object is already present. InvalidArgument for a bad oid.
  // Downloads use OpenPartialWhenFree, which waits instead of failing.
  // ResourceExhausted if the disk cannot hold `size` bytes (checked by preallocating). A journal
  // for a different size is discarded (the partial data cannot belong to this object).
  Result<std::unique_ptr<PartialBlob>> OpenPartial(std::string_view oid, uint64_t size);

  // OpenPartial, except that another download of `oid` running (in this process or another)
  // is waited for instead of being an error: woken when it ends, this call opens the
  // object again, so it answers AlreadyExists when the other download published it, or the
  // PartialBlob (resuming from the durable ranges) when the other one failed or gave up.
  // No sleep loop: the wake-up comes from the registry or from the released flock. Cancelled
  // or DeadlineExceeded per `wait`; every other answer as OpenPartial.
  Result<std::unique_ptr<PartialBlob>> OpenPartialWhenFree(std::string_view oid, uint64_t size,
                                                           const BusyWait& wait);
  // Calls of OpenPartialWhenFree now waiting for `oid` (tests, to know a waiter is blocked).
  int WaitersFor(std::string_view oid) const;

  // The quarantine: bytes and files kept now, and copies dropped (by the limits) since Open.
  struct QuarantineUsage {
    uint64_t bytes = 0;
    uint64_t files = 0;
    uint64_t dropped = 0;
  };
  QuarantineUsage quarantine_usage() const;

  // Total bytes of complete objects on disk (the store's physical size: each object once),
  // and their count. Walks objects/; on failure the error of the walk, naming the path.
  struct Usage {
    uint64_t objects = 0;
    uint64_t bytes = 0;
  };
  Result<Usage> ComputeUsage() const;

  // ---- garbage collection and verification at rest (storage/lfs_gc.h, daemon/verify_*) ----

  // Removes the complete object `oid` from objects/ (unlink, then fsync of its directory):
  // from then on Contains is false and OpenObject NotFound; a reader that opened it before
  // keeps reading its open file. On success returns the bytes freed. NotFound if absent;
  // InvalidArgument for a bad oid. Partial downloads of the oid are not touched.
  Result<uint64_t> RemoveObject(std::string_view oid);
  // Moves the complete object to quarantine/<oid>.<n> in one rename (it is never served from
  // then on; the next download of the oid starts from zero), then applies the quarantine
  // limits. For data found corrupt at rest. Returns the quarantine path (which the limits
  // may already have dropped). NotFound if absent; InvalidArgument for a bad oid.
  Result<std::filesystem::path> QuarantineObject(std::string_view oid);
  // Every complete object in objects/ with its size, in no particular order. On failure the
  // error of the walk, naming the path.
  struct StoredObject {
    std::string oid;
    uint64_t size = 0;
  };
  Result<std::vector<StoredObject>> ListObjects() const;

 private:
  friend class PartialBlob;
  explicit BlobStore(std::filesystem::path root, BlobStoreOptions options);
  static std::filesystem::path ObjectPathUnder(const std::filesystem::path& root,
                                               std::string_view oid);
  enum class Busy { kNo, kHere, kElsewhere };
  // OpenPartial; *busy says who holds the oid when the answer is FailedPrecondition, and
  // *own_events is bumped for each registry notification this call made itself.
  Result<std::unique_ptr<PartialBlob>> TryOpenPartial(std::string_view oid, uint64_t size,
                                                      Busy* busy, uint64_t* own_events);
  // Enters `oid` into this process's registry of open partials, for an opener that then
  // owns the entry: FailedPrecondition (*busy = kHere) when it is there already;
  // AlreadyExists (the entry left again) when the object is stored. On OK the caller leaves
  // it (LeaveRegistry) or hands it to the PartialBlob it opens.
  Status EnterRegistry(const std::string& oid, Busy* busy, uint64_t* own_events);
  // Removes the entry and wakes the waiters; the caller's own wake-up is counted in
  // `own_events` so that it does not wake itself.
  void LeaveRegistry(const std::string& oid, uint64_t* own_events);
  // Whether the shared .part of `oid` has gone unchanged for options' stale_part_after.
  bool SharedPartIsStale(std::string_view oid) const;
  // A fresh partial of `oid` under a name of its own (see stale_part_after); Busy::kHere
  // when this process already downloads `oid`.
  Result<std::unique_ptr<PartialBlob>> OpenPrivatePartial(std::string_view oid, uint64_t size,
                                                          Busy* busy, uint64_t* own_events);
  struct State;
  std::filesystem::path root_;
  // Shared with the PartialBlobs, which unregister their oid from it when destroyed.
  std::shared_ptr<State> state_;
};

// One object being downloaded into incomplete/. Destroying it without Publish() keeps the
// durable ranges for the next attempt.
class PartialBlob {
 public:
  ~PartialBlob();
  PartialBlob(const PartialBlob&) = delete;
  PartialBlob& operator=(const PartialBlob&) = delete;

  const std::string& oid() const;
  uint64_t size() const;

  // The ranges still to fetch: the complement of the durable ranges, in order. Empty once
  // every byte is durable.
  std::vector<ByteRange> MissingRanges() const;
  // Bytes already durable from earlier attempts (what a resume does not fetch again).
  uint64_t DurableBytes() const;
  // Of DurableBytes() at open, those that came from a trusted same-boot .written log (bytes
  // written before a crash of this boot but not yet journalled as durable then).
  uint64_t ResumedFromWrittenLog() const;
  // Length of the prefix [0, n) fed to the SHA-256 so far (progress of verification; equals
  // size() when Publish() has nothing left to hash).
  uint64_t HashedBytes() const;

  // Writes `data` at `offset` (offset + data.size() <= size(), else InvalidArgument).
  // Bytes that extend the contiguous prefix from 0 are fed to the SHA-256 as they arrive;
  // bytes beyond a gap are hashed from the file (page cache) when the gap closes, so no
  // second pass is needed after the last byte (after a resume, the durable prefix is hashed
  // from disk the same way). Each byte is written once: bytes already written (or durable
  // from an earlier attempt) keep their content and the corresponding part of `data` is
  // ignored, so the file always holds exactly what was hashed. On success the bytes are in
  // the file (not yet durable). ResourceExhausted on a full disk; FailedPrecondition after
  // Publish() or Quarantine(). On a failure to read back bytes for hashing, the write
  // itself has happened and the hashing is retried by the next call.
  Status WriteAt(uint64_t offset, std::string_view data);

  // Makes [range] durable (fdatasync) and journals it, so that a crash after this returns
  // never fetches those bytes again. `range` must have been written (FailedPrecondition
  // otherwise). On failure the journal still describes only durable bytes (and `range` is
  // not in it). Concurrent calls are group-committed: one fdatasync of the file and one
  // journal write cover every range whose caller was waiting when it started, so commits
  // of small ranges from several connections cost about one sync each round, not one each.
  // Each round also replaces the .written log (rename) by one naming the ranges written but
  // not yet durable, so it stays small.
  Status CommitRange(ByteRange range);

  // CommitRange without waiting for another caller's round: when a round is running, the
  // range is queued for the next one (led by the next caller of either method that finds
  // none running) and OK returned at once; otherwise this caller leads one round, covering
  // everything queued. So a connection rarely waits for an fdatasync (bytes queued but not
  // yet synced survive a process crash through the .written log; a synchronous CommitRange,
  // e.g. at the end of a piece, makes everything queued durable). A failed round's error
  // is returned by the next call of this method (once); preconditions as CommitRange.
  Status CommitRangeWhenConvenient(ByteRange range);

  // (WriteAt, continued) After the bytes are in the file, their ranges are appended to the
  // .written log; a failure to append only costs the log (it is dropped, with a warning).

  // Checks that every byte was written and that size and SHA-256 match the oid, then makes
  // the object visible in objects/ (rename + directory fsync) and removes the partial files.
  // DataLoss on a hash mismatch: the data is moved to quarantine/ (the message names the
  // quarantine file and both hashes) and the next OpenPartial starts from zero.
  // FailedPrecondition if bytes are missing, WriteAt calls are still running, or after
  // Quarantine(). Calling it again after success is OK (idempotent); after a failure of the
  // final rename or sync it may be retried.
  Status Publish();

  // Moves the partial data to quarantine/ (e.g. the upstream sent bytes it should not
  // have) so that the next attempt starts from zero. Returns the quarantine path (which the
  // store's quarantine limits may already have dropped).
  // FailedPrecondition after Publish() or a previous Quarantine().
  Result<std::filesystem::path> Quarantine();

 private:
  friend class BlobStore;
  struct Impl;
  explicit PartialBlob(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mirrord
