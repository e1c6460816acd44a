#include "http/http_status.h"

#include "http/retry_after.h"

namespace mirrord {
namespace {

std::string_view StandardReason(long code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace

std::string HttpWhat(long code, std::string_view reason, std::string_view body) {
  std::string what = "HTTP " + std::to_string(code);
  std::string_view phrase = reason.empty() ? StandardReason(code) : reason;
  if (!phrase.empty()) what += " " + std::string(phrase);
  std::string detail = FirstLineOf(body);
  if (!detail.empty()) what += ": " + detail;
  return what;
}

Status HttpStatusError(long code, const ResponseHeaders& headers, std::string_view body,
                       const HttpErrorContext& context, std::chrono::system_clock::time_point now) {
  const std::string what = HttpWhat(code, headers.reason(), body);
  const std::string& who = context.subject;
  auto rate_limited = [&](std::string message) {
    Status s = ResourceExhausted(std::move(message));
    std::optional<std::chrono::seconds> wait = UpstreamWait(headers, now);
    if (!wait) wait = context.default_rate_limit_wait;
    return wait ? s.WithRetryAfter(*wait) : s;
  };
  std::optional<std::string_view> remaining = headers.Get("X-RateLimit-Remaining");
  if (code == 403 && remaining && *remaining == "0") {
    return rate_limited(who + " rate limit exhausted (" + what + ")");
  }
  if (code == 429) return rate_limited(who + " is rate limiting (" + what + ")");
  if (code == 401 || code == 403) {
    std::string hint;
    if (context.token_sent.has_value()) {
      hint = *context.token_sent ? "; check the upstream's token"
                                 : "; the repository may need a token (token_file)";
    }
    return PermissionDenied(who + " refused access (" + what + ")" + hint);
  }
  if (code == 404 || code == 410) {
    return NotFound(who + " has no such " + context.resource + " (" + what + ")");
  }
  if (code == 408 || code >= 500) {
    Status s = Unavailable(who + (code == 503 ? " is unavailable (" : " failed (") + what + ")");
    std::optional<std::chrono::seconds> wait = UpstreamWait(headers, now);
    return wait ? s.WithRetryAfter(*wait) : s;
  }
  if (code >= 400) return InvalidArgument(who + " refused the request (" + what + ")");
  return Unavailable(who + " answered " + what);
}

}  // namespace mirrord
