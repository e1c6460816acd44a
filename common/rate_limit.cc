#include "common/rate_limit.h"

namespace mirrord {

Status RateLimited(std::string message, std::chrono::seconds retry_after) {
  return ResourceExhausted(std::move(message)).WithRetryAfter(retry_after);
}

std::optional<std::chrono::seconds> RateLimitRetryAfter(const Status& status) {
  if (status.code() != StatusCode::kResourceExhausted) return std::nullopt;
  return status.retry_after();
}

}  // namespace mirrord
