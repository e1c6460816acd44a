#include "http/retry_after.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

namespace mirrord {
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now) {
  value = TrimHeaderValue(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return std::chrono::seconds::max();
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // An HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms (curl reads all).
  if (value.find(',') == std::string_view::npos && value.find(' ') == std::string_view::npos) {
    return std::nullopt;
  }
  std::string text(value);
  time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::seconds(0)) return std::chrono::seconds(0);
  // Round up: waiting a little longer than asked is the polite side.
  return std::chrono::ceil<std::chrono::seconds>(delta);
}

std::optional<std::chrono::seconds> UpstreamWait(const ResponseHeaders& headers,
                                                 std::chrono::system_clock::time_point now) {
  if (auto value = headers.Get("Retry-After")) {
    if (auto wait = ParseRetryAfter(*value, now)) return wait;
  }
  if (auto reset = headers.Get("X-RateLimit-Reset")) {
    int64_t at = 0;  // unix seconds when the limit resets
    auto [end, ec] = std::from_chars(reset->data(), reset->data() + reset->size(), at);
    if (ec == std::errc() && end == reset->data() + reset->size()) {
      int64_t wait =
          at - std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
      return std::chrono::seconds(std::clamp<int64_t>(wait, 0, 24 * 3600));
    }
  }
  return std::nullopt;
}

}  // namespace mirrord
