// How long an upstream asked us to wait, read from a response's headers once for every
// client: Retry-After (RFC 9110: delay-seconds or an HTTP-date), else GitHub's
// X-RateLimit-Reset (the unix time the limit resets). The answer travels as a Status's
// typed retry_after (common/status.h), never as message text.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "http/response_headers.h"

namespace mirrord {

// Parses a Retry-After value: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
// 07:28:00 GMT", measured from `now`; a date in the past gives zero). nullopt when it is
// neither.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now);

// The wait `headers` ask for: Retry-After when it parses, else X-RateLimit-Reset (clamped
// to [0, 1 day]); nullopt when they say nothing usable.
std::optional<std::chrono::seconds> UpstreamWait(const ResponseHeaders& headers,
                                                 std::chrono::system_clock::time_point now);

}  // namespace mirrord
