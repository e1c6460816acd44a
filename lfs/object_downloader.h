// ObjectDownloader: fetches LFS objects from an upstream into the BlobStore, resumably.
//
// One object: open (or resume) its PartialBlob, fetch the byte ranges still missing with
// HTTP Range requests over several connections at once, write the bytes as they arrive
// (the store hashes them while they arrive) and make them durable every MiB, then
// Publish(), which checks size and SHA-256 before the object becomes visible. A cancel or a
// dropped connection loses only the bytes not yet written; so does a crash of the process
// (the store trusts what it wrote on the same boot), a power loss the bytes not yet made
// durable; the next attempt continues from there.
//
// Upstream behaviours handled:
//  - 206 with a Content-Range that must match what was asked (and the object's size);
//  - 200 to a Range request: usable as is for a piece that starts at byte 0 (the first bytes
//    are the piece); for any other piece the server evidently ignores Range, so the pass
//    stops and one connection downloads the whole body from byte 0, writing only the bytes
//    still missing and discarding the rest (wasteful, but the server leaves no choice);
//  - 416: the partial data does not fit the upstream's object, so it is quarantined and the
//    object fetched again from zero (bounded, like a hash mismatch);
//  - 401/403/410 on a GET, or an href whose expiry has passed (or is within a margin): a
//    fresh action is asked from the batch client and the download continues;
//  - 429/503 (Retry-After), other 5xx, dropped connections and stalls (no byte for a while):
//    the piece is retried from its last written byte, bounded per piece;
//  - a hash mismatch at Publish(): the store has quarantined the data; the event is reported
//    and the object fetched again from zero, at most `max_refetches` times, then DataLoss.
// Connections to one host are capped across all objects by a HostConnectionLimiter.
// Two downloads of one oid (two syncs sharing a weight file, a sync and a client's
// pull-through, two nodes on one store) never both fetch it and never fail for it: the
// second waits for the first (BlobStore::OpenPartialWhenFree) and then finds the object
// present, or continues from the durable bytes if the first one failed.
// Threads: every thread but the caller's comes from a DownloadPool (bounded by config).
// Thread-safety: thread-safe; Download and DownloadObjects may run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/status.h"
#include "http/backoff.h"
#include "http/curl_session.h"
#include "http/host_limiter.h"
#include "http/retry_wait.h"
#include "lfs/batch_client.h"
#include "lfs/download_pool.h"
#include "storage/blob_store.h"

namespace mirrord {

struct ObjectDownloaderOptions {
  int max_connections = 8;               // ranged connections per object
  uint64_t min_piece_size = 8ull << 20;  // pieces are never smaller (small objects: 1)
  // Pieces are never larger. The connections take pieces in ascending offset order, so the
  // SHA-256 (which can only consume the contiguous prefix from byte 0) trails the download
  // by at most about `max_connections` pieces instead of waiting for the first of 8 equal
  // parts, i.e. for about the whole object. 16 MiB: at most ~128 MiB to hash
  // after the last byte, and a request per 16 MiB on a kept-alive connection (a round trip
  // of 50 ms is ~3% of a piece at 10 MB/s per connection).
  uint64_t max_piece_size = 16ull << 20;
  // A connection asks for its bytes to be made durable this often, without waiting for
  // another connection's round (PartialBlob::CommitRangeWhenConvenient), and waits at the
  // end of each GET. The store group-commits (one fdatasync and one journal write per round
  // for all connections of the object), which keeps 1 MiB affordable. A process crash
  // (kill -9) refetches no byte that was written (the store's same-boot .written log); a
  // power loss refetches what arrived since the last completed round (about an interval
  // per connection, plus what arrives during one round's fdatasync).
  uint64_t commit_interval = 1ull << 20;
  int concurrency = 4;  // objects at a time in DownloadObjects
  // Shared cap on connections per upstream host (across downloaders); nullptr: a private
  // limiter of `max_connections_per_host`.
  HostConnectionLimiter* limiter = nullptr;
  int max_connections_per_host = 16;
  // Threads shared by downloads (the objects of DownloadObjects and the connections of an
  // object beyond the calling thread); nullptr: a private pool of max(max_connections,
  // concurrency) threads. The daemon passes one pool for all syncs ([lfs] download_threads).
  DownloadPool* pool = nullptr;
  // How long Download waits for another download of the same oid (in this process or
  // another) before giving up with DeadlineExceeded; nullopt: as long as it takes (the
  // cancel flag still applies). The wait ends when the other one does, never by polling.
  std::optional<std::chrono::milliseconds> busy_wait_timeout;
  std::chrono::seconds connect_timeout{30};
  std::chrono::milliseconds stall_timeout{60'000};  // no byte for this long: reconnect
  // Consecutive attempts of one piece that fetch nothing before the object fails.
  int max_piece_attempts = 8;
  int max_refetches = 2;                   // fetches from zero after a hash mismatch or a 416
  int max_action_refreshes = 4;            // fresh download actions asked for one object
  std::chrono::seconds expiry_margin{30};  // refresh an href this long before it expires
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::seconds max_retry_after{300};
  long max_redirects = 10;
  // Progress callbacks come at most this often (plus one at the start and one at the end).
  std::chrono::milliseconds progress_interval{100};
  const std::atomic<bool>* cancel = nullptr;  // checked at least every 100 ms
  RetryTiming timing;                         // clock, sleeper and jitter seed (tests)
  // Tests: called on the connection's thread after each piece of a ranged pass is complete
  // (written and durable), before that connection takes the next piece, with the object's
  // PartialBlob (valid during the call only). It may block; the connection waits.
  std::function<void(const PartialBlob& blob, ByteRange piece)> on_piece_done;
  std::string user_agent = "mirrord git-lfs/3 (mirrord)";
};

// Called while an object downloads (at the start, at most every `progress_interval` while
// bytes arrive, and at the end when it succeeded) from any of the download's threads, never
// concurrently for one object: bytes of the object present so far (durable from earlier
// attempts included) and its size. It may set the cancel flag.
using LfsProgressCallback =
    std::function<void(const LfsPointer& object, uint64_t bytes_done, uint64_t bytes_total)>;

// What happened to one object.
struct LfsDownloadReport {
  LfsPointer object;
  // OK when the verified object is in the store. Otherwise why not: the upstream's
  // per-object error (NotFound, ...), PermissionDenied, Unavailable or DeadlineExceeded when
  // retries ran out, DataLoss after repeated hash mismatches, ResourceExhausted (disk full),
  // Cancelled, DeadlineExceeded (busy_wait_timeout passed while another download of the
  // oid ran; never otherwise a failure: the other download is waited for).
  Status status;
  bool already_present = false;  // nothing was fetched: the store had it
  // Another download of the oid was running and was waited for (already_present is set when
  // it published the object; otherwise this one continued from its durable bytes).
  bool waited_for_other = false;
  uint64_t resumed_bytes = 0;   // bytes durable from an earlier attempt when it started
  uint64_t received_bytes = 0;  // body bytes received (discarded ones included)
  int requests = 0;             // object GETs made
  int action_refreshes = 0;     // fresh download actions asked for
  // One entry per discarded copy: the store's message, which names the quarantine file.
  std::vector<std::string> quarantined;
};

// Cuts `missing` (ordered, disjoint) into pieces in ascending offset order that together cover
// exactly `missing`: at most `max_connections` roughly equal pieces when that keeps them
// within `max_piece_size`, otherwise roughly equal pieces of at most `max_piece_size`; none
// smaller than `min_piece_size` unless a missing range itself is smaller (or
// `max_piece_size` is). Exposed for tests.
std::vector<ByteRange> PlanLfsPieces(const std::vector<ByteRange>& missing, int max_connections,
                                     uint64_t min_piece_size, uint64_t max_piece_size);

class ObjectDownloader {
 public:
  // `store` and `batch` must outlive the downloader.
  ObjectDownloader(BlobStore* store, LfsBatchClient* batch, ObjectDownloaderOptions options);
  ~ObjectDownloader();
  ObjectDownloader(const ObjectDownloader&) = delete;
  ObjectDownloader& operator=(const ObjectDownloader&) = delete;

  // Downloads one object into the store using `action` (nullopt: ask the batch client
  // first), naming `ref` when a fresh action is needed. Returns when the object is in the
  // store or has failed; the report says which (see LfsDownloadReport::status). Durable
  // bytes of a failed or cancelled download stay for the next attempt.
  LfsDownloadReport Download(const LfsPointer& object, std::optional<LfsDownloadAction> action,
                             std::string_view ref, const LfsProgressCallback& progress = {});

  // Downloads `objects`, `concurrency` at a time (0: options.concurrency), asking the batch
  // client for at most 100 at once, just before they are needed, so that hrefs are fresh.
  // Objects already in the store are not asked for. Returns one report per object, in order
  // (a repeated oid gets the first one's report). One failed object does not stop the
  // others; a whole batch request that fails fails the objects it was for.
  std::vector<LfsDownloadReport> DownloadObjects(const std::vector<LfsPointer>& objects,
                                                 std::string_view ref, int concurrency = 0,
                                                 const LfsProgressCallback& progress = {});

  HostConnectionLimiter& limiter() { return *limiter_; }

 private:
  struct ObjectRun;
  struct PassResult;
  PassResult FetchMissing(ObjectRun& run, PartialBlob& blob, bool whole_body);
  Status FetchPiece(ObjectRun& run, PartialBlob& blob, ByteRange piece, bool whole_body,
                    CurlSession& session);

  BlobStore* const store_;
  LfsBatchClient* const batch_;
  const ObjectDownloaderOptions options_;
  std::unique_ptr<HostConnectionLimiter> own_limiter_;
  HostConnectionLimiter* limiter_;
  std::unique_ptr<DownloadPool> own_pool_;
  DownloadPool* pool_;
  Backoff backoff_;
};

}  // namespace mirrord
