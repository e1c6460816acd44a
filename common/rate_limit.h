// The one way an upstream's "slow down" travels from the transport that saw it (HTTP 429,
// or 403 with its rate limit exhausted) to the scheduler that pauses that upstream host:
// a ResourceExhausted Status carrying the wait as its typed retry_after (common/status.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/status.h"

namespace mirrord {

// ResourceExhausted(message) with retry_after = `retry_after` (negative waits count as 0).
Status RateLimited(std::string message, std::chrono::seconds retry_after);

// The wait a rate-limited status carries (ResourceExhausted with a retry_after); nullopt for
// any other status, whatever its message says.
std::optional<std::chrono::seconds> RateLimitRetryAfter(const Status& status);

}  // namespace mirrord
