// The parts of one GET of (a piece of) an LFS object, each testable without a network:
//   ObjectRequestHeaders   the request's header lines (the action's, plus our Range);
//   CheckObjectResponse    what a response head means for the piece that was asked for;
//   PieceWriter            writes the body's bytes into the PartialBlob and makes them durable
//                          every `commit_interval` bytes (and whenever it stops).
// ObjectDownloader::FetchPiece glues them to a curl transfer (http/curl_session.h); what to
// do after an attempt is lfs/piece_attempt.h, which href to use lfs/download_action_slot.h.
// Thread-safety: functions are pure; a PieceWriter belongs to one transfer (one thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lfs/batch_client.h"
#include "storage/blob_store.h"

namespace mirrord {

// The header lines of an object GET: the action's headers (except any that could split the
// request, i.e. names or values with CR/LF or a colon in the name, and its own Range), then
// "Range: bytes=B-E" for `range` (nullopt: the whole object).
std::vector<std::string> ObjectRequestHeaders(const LfsDownloadAction& action,
                                              std::optional<ByteRange> range);

// A response head as curl reports it.
struct ObjectResponseHead {
  long code = 0;
  std::string content_range;    // "" when absent
  int64_t content_length = -1;  // -1 when unknown
};

// What the head says about the body that follows.
struct ObjectResponseVerdict {
  enum class Kind {
    kBody,           // 2xx with usable bytes [base, body_end) of the object: write them
    kErrorBody,      // not 2xx: the body is an error message (keep a little of it)
    kRetry,          // a bad answer worth another attempt (`status` says why)
    kFatal,          // the upstream's object is not the pointer's (`status`: DataLoss)
    kRangeIgnored,   // 200 to a Range that does not start at 0: the server ignores Range
    kUnsatisfiable,  // 416
  };
  Kind kind = Kind::kBody;
  Status status;
  uint64_t base = 0;      // object offset of the body's first byte
  uint64_t body_end = 0;  // object offset just past its last byte
};

// Judges `head` for a GET of `requested` (nullopt: the whole object) of an object of
// `object_size` bytes: a 206 must carry a Content-Range that starts at or before the first
// byte asked for, ends after it, and names the pointer's size; a 200 must have the pointer's
// size and counts as ignoring Range unless the range started at 0.
ObjectResponseVerdict CheckObjectResponse(const ObjectResponseHead& head, uint64_t object_size,
                                          std::optional<ByteRange> requested);

// Writes a body that starts at object offset `base` into `blob`, keeping only the bytes of
// `targets` (ordered, disjoint) and committing each contiguous run of written bytes once it
// reaches `commit_interval` bytes (PartialBlob::CommitRangeWhenConvenient: without waiting
// for another connection's round), when the run breaks, and on Finish() (waiting until
// durable).
class PieceWriter {
 public:
  PieceWriter(PartialBlob* blob, std::vector<ByteRange> targets, uint64_t commit_interval);

  // Feeds the next `data` of the body, which starts at `base` (the same for every call).
  // On failure (disk) nothing more should be fed; Finish() still commits what was written.
  Status Write(uint64_t base, std::string_view data);
  // Commits the written, not yet durable run (and what was committed without waiting),
  // waiting until it is durable.
  Status Finish();

  uint64_t stream() const { return stream_; }    // body bytes seen
  uint64_t written() const { return written_; }  // target bytes written
  // Just past the last byte written (the first target's begin before any).
  uint64_t written_end() const { return run_end_; }
  // Every target byte has been written.
  bool complete() const { return complete_; }

 private:
  PartialBlob* blob_;
  std::vector<ByteRange> targets_;
  uint64_t commit_interval_;
  uint64_t stream_ = 0;
  uint64_t written_ = 0;
  // [run_begin_, run_end_): written, not yet committed; [synced_end_, run_begin_): committed
  // without waiting (maybe not durable yet), made durable by Finish().
  uint64_t synced_end_ = 0;
  uint64_t run_begin_ = 0;
  uint64_t run_end_ = 0;
  bool complete_ = false;
};

}  // namespace mirrord
