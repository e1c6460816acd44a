// The one translation of an HTTP error response into a Status, for every upstream client
// (git smart HTTP, LFS batch and object GETs, registry pulls). The code says what a caller
// may do; the wait the upstream asked for travels as the Status's typed retry_after:
//   401, 403             PermissionDenied (with a token hint when the caller says whether a
//                        token was sent)
//   403 + X-RateLimit-Remaining: 0, 429
//                        ResourceExhausted "rate limiting", retry_after = UpstreamWait, else
//                        `default_rate_limit_wait` when set
//   404, 410             NotFound
//   408, 5xx             Unavailable, retry_after = UpstreamWait when the upstream named one
//   other 4xx            InvalidArgument (the request itself is refused: retrying is futile)
//   anything else        Unavailable (1xx, 3xx left over, odd codes)
// Callers decide about retries from the code and retry_after alone, never from the message.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/response_headers.h"

namespace mirrord {

struct HttpErrorContext {
  // Who answered, for the message: "upstream https://github.com/o/r.git" (redacted).
  std::string subject;
  // What a 404 lacks: "repository", "LFS object <oid>", ...
  std::string resource = "resource";
  // 401/403 hint: true "check the upstream's token", false "may need a token (token_file)";
  // nullopt: no hint.
  std::optional<bool> token_sent;
  // The wait of a rate limit that names none (nullopt: leave retry_after unset).
  std::optional<std::chrono::seconds> default_rate_limit_wait;
};

// "HTTP 404 Not Found: <first line of the body>" (the reason from the status line, else the
// standard one; the detail only when the body has a one-line message).
std::string HttpWhat(long code, std::string_view reason, std::string_view body);

// The Status for an error response (`code` >= 300 or otherwise unusable; see the table
// above). `body` is the start of the response body (bounded by the caller).
Status HttpStatusError(long code, const ResponseHeaders& headers, std::string_view body,
                       const HttpErrorContext& context, std::chrono::system_clock::time_point now);

}  // namespace mirrord
