// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224);
// the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/http_exchange.h"

#include <algorithm>
#include <optional>

#include "common/rate_limit.h"

namespace mirrord {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; nullopt for a malformed escape. `plus_is_space` for query parts.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return InvalidArgument("request target must be an absolute path");
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  size_t question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  RequestTarget out;
  std::optional<std::string> path = PercentDecode(raw_path, /*plus_is_space=*/false);
  if (!path) return InvalidArgument("malformed percent-escape in request path");
  out.path = std::move(*path);
  if (question == std::string_view::npos) return out;
  std::string_view raw_query = target.substr(question + 1);
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view item = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::optional<std::string> key = PercentDecode(item.substr(0, eq), true);
    std::optional<std::string> value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), true);
    if (!key || !value) return InvalidArgument("malformed percent-escape in query string");
    out.query[std::move(*key)] = std::move(*value);
  }
  return out;
}

HttpResponse MakeResponse(const HttpRequest& request, http::status status, std::string body,
                          std::string_view content_type) {
  HttpResponse response(status, request.version());
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

HttpError HttpErrorFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return {http::status::not_found, std::nullopt};
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return {http::status::bad_gateway, std::nullopt};
    case StatusCode::kDeadlineExceeded:
      return {http::status::gateway_timeout, std::nullopt};
    case StatusCode::kCancelled:
      return {http::status::service_unavailable, std::nullopt};
    case StatusCode::kResourceExhausted:
      return {http::status::service_unavailable,
              RateLimitRetryAfter(s).value_or(kResourceExhaustedRetryAfter)};
    default:
      return {http::status::internal_server_error, std::nullopt};
  }
}

HttpResponse MakeErrorResponse(const HttpRequest& request, const Status& status, std::string body,
                               std::string_view content_type) {
  HttpError error = HttpErrorFor(status);
  HttpResponse response = MakeResponse(request, error.status, std::move(body), content_type);
  if (error.retry_after) {
    response.set(http::field::retry_after,
                 std::to_string(std::max<int64_t>(1, error.retry_after->count())));
  }
  return response;
}

}  // namespace mirrord
