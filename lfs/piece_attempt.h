// What to do after one GET of a piece of an LFS object did not deliver the whole piece:
// the retry decision of ObjectDownloader::FetchPiece as a pure function of the attempt's
// facts, so that every branch is testable without a network. Status codes come from the
// HTTP layer's translations (http/http_status.h, http/curl_status.h); Retry-After arrives
// as the Status's retry_after.
// Thread-safety: pure function.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/response_headers.h"

namespace mirrord {

// The facts of a finished (or abandoned) attempt.
struct PieceAttempt {
  // CurlSession::Perform's outcome: OK (the transfer ended, see `transfer`),
  // DeadlineExceeded (stalled).
  Status performed;
  // The transfer's own outcome when `performed` is OK: OK for a complete response,
  // otherwise its CurlSession::TransferError.
  Status transfer;
  // The response had a head (a status code); `code` is it.
  bool has_head = false;
  long code = 0;
  // A bad answer that is worth another attempt (e.g. a Content-Range that does not match);
  // OK when none.
  Status bad_answer;
  const ResponseHeaders* headers = nullptr;  // of the response (may be null: none)
  std::string_view error_body;               // start of an error response's body
  uint64_t body_bytes = 0;                   // body bytes received
  uint64_t written = 0;                      // of them, bytes of the piece written
};

struct PieceVerdict {
  enum class Kind {
    kContinue,       // a complete but shorter answer that delivered bytes: ask for the rest
    kRefreshAction,  // the href was refused (401/403/410): ask for a fresh action, go on
    kRetry,          // wait, then try again from the last written byte (`status` says why)
    kFail,           // give up on the object with `status`
  };
  Kind kind = Kind::kRetry;
  Status status;
  // For kRetry: the wait the upstream asked for (capped by the caller's maximum); nullopt:
  // the caller's backoff decides.
  std::optional<std::chrono::milliseconds> wait;
};

// Judges `attempt` of a GET for the object named by `where` ("LFS object <oid>").
// `max_retry_after` caps an upstream's Retry-After; `now` dates an HTTP-date Retry-After.
PieceVerdict JudgePieceAttempt(const PieceAttempt& attempt, const std::string& where,
                               std::chrono::seconds max_retry_after,
                               std::chrono::system_clock::time_point now);

}  // namespace mirrord
