#include "common/rate_limit.h"

#include <charconv>
#include <string_view>

namespace mirrord {
namespace {
constexpr std::string_view kPrefix = " (retry after ";
constexpr std::string_view kSuffix = " s)";
}  // namespace

Status RateLimited(std::string message, std::chrono::seconds retry_after) {
  int64_t s = std::max<int64_t>(0, retry_after.count());
  message.append(kPrefix);
  message.append(std::to_string(s));
  message.append(kSuffix);
  return ResourceExhausted(std::move(message));
}

std::optional<std::chrono::seconds> RateLimitRetryAfter(const Status& status) {
  if (status.code() != StatusCode::kResourceExhausted) return std::nullopt;
  std::string_view m = status.message();
  if (!m.ends_with(kSuffix)) return std::nullopt;
  m.remove_suffix(kSuffix.size());
  size_t at = m.rfind(kPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = m.substr(at + kPrefix.size());
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value < 0) return std::nullopt;
  return std::chrono::seconds(value);
}

}  // namespace mirrord
