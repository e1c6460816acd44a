#include "lfs/piece_attempt.h"

#include <algorithm>

#include "http/http_status.h"

namespace mirrord {

PieceVerdict JudgePieceAttempt(const PieceAttempt& attempt, const std::string& where,
                               std::chrono::seconds max_retry_after,
                               std::chrono::system_clock::time_point now) {
  using Kind = PieceVerdict::Kind;
  auto retry = [](Status s) { return PieceVerdict{Kind::kRetry, std::move(s), std::nullopt}; };
  if (attempt.performed.code() == StatusCode::kDeadlineExceeded) {
    return retry(
        DeadlineExceeded(where + ": the upstream stalled (" + attempt.performed.message() + ")"));
  }
  if (!attempt.performed.ok()) return {Kind::kFail, attempt.performed, std::nullopt};
  if (!attempt.bad_answer.ok()) return retry(attempt.bad_answer.WithContext(where));
  if (!attempt.has_head) {
    // No answer at all: DNS, connect, TLS, a connection closed before the head.
    const Status& s = attempt.transfer;
    if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kResourceExhausted ||
        s.code() == StatusCode::kCancelled) {
      return {Kind::kFail, s, std::nullopt};
    }
    return retry(s.ok() ? Unavailable(where + ": the upstream sent no answer") : s);
  }
  const long code = attempt.code;
  if (code >= 200 && code < 300) {
    if (attempt.transfer.ok()) {
      // A complete, shorter answer than asked (a server may shorten a range): go on.
      if (attempt.written > 0) return {Kind::kContinue, Status::Ok(), std::nullopt};
      return retry(Unavailable(where + ": the upstream sent no usable bytes (HTTP " +
                               std::to_string(code) + ")"));
    }
    return retry(Unavailable(where + ": connection lost after " +
                             std::to_string(attempt.body_bytes) + " bytes (" +
                             attempt.transfer.message() + ")"));
  }
  const ResponseHeaders none;
  const ResponseHeaders& headers = attempt.headers != nullptr ? *attempt.headers : none;
  if (code == 401 || code == 403 || code == 410) {
    // Most likely an expired href (storage URLs are signed for a while): a fresh one helps.
    return {Kind::kRefreshAction,
            PermissionDenied(HttpWhat(code, headers.reason(), attempt.error_body)), std::nullopt};
  }
  HttpErrorContext context;
  context.subject = where + ": the upstream's download href";
  context.resource = "object";
  Status error = HttpStatusError(code, headers, attempt.error_body, context, now);
  if (error.code() != StatusCode::kResourceExhausted && error.code() != StatusCode::kUnavailable) {
    return {Kind::kFail, error, std::nullopt};
  }
  PieceVerdict verdict = retry(error);
  if (error.retry_after().has_value()) {
    verdict.wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min(*error.retry_after(), max_retry_after));
  }
  return verdict;
}

}  // namespace mirrord
