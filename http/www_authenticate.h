// The challenges of a WWW-Authenticate header value (RFC 9110 section 11.6.1), parsed once
// for every client that answers a 401: a list of `scheme [token68 | name=value, ...]`,
// values as tokens or quoted strings (backslash escapes undone), several challenges in one
// value separated by commas. A registry is hostile: the value is bounded
// (kMaxWwwAuthenticateBytes), so are the challenges and parameters kept, and anything that
// does not follow the grammar is refused as a whole rather than half-read.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mirrord {

inline constexpr size_t kMaxWwwAuthenticateBytes = 16 * 1024;
inline constexpr size_t kMaxAuthChallenges = 16;
inline constexpr size_t kMaxAuthParams = 32;  // per challenge

struct AuthChallenge {
  std::string scheme;   // lower case: "basic", "bearer", ...
  std::string token68;  // the token68 form ("Negotiate abc=="); "" when parameters were given
  std::vector<std::pair<std::string, std::string>> params;  // names lower case, in order

  // The value of parameter `name` (lower case); the first one when repeated.
  std::optional<std::string_view> Param(std::string_view name) const;
};

// Parses `value`. On success every challenge has a non-empty scheme. InvalidArgument for a
// value that breaks the grammar (an unterminated quoted string, a parameter without '=',
// an empty scheme, control characters), ResourceExhausted for more than
// kMaxWwwAuthenticateBytes, kMaxAuthChallenges or kMaxAuthParams.
Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(std::string_view value);

}  // namespace mirrord
