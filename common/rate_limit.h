// The one way an upstream's "slow down" travels from the transport that saw it (HTTP 429,
// or 403 with its rate limit exhausted) to the scheduler that pauses that upstream host:
// a ResourceExhausted Status whose message ends with "(retry after N s)".
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/status.h"

namespace mirrord {

// ResourceExhausted("<message> (retry after <seconds> s)"); negative waits count as 0.
Status RateLimited(std::string message, std::chrono::seconds retry_after);

// The wait a RateLimited status carries; nullopt for any other status.
std::optional<std::chrono::seconds> RateLimitRetryAfter(const Status& status);

}  // namespace mirrord
