// Read tokens: what `mirrorctl token create` hands out for reading private repositories.
// A token is "mrd_" followed by 64 lowercase hex digits (256 random bits); only its SHA-256
// is stored, so a copy of the catalog grants nothing. Token names (what list/revoke and the
// access log show) are 1-64 characters of [A-Za-z0-9._-].
// Thread-safety: pure functions (GenerateReadToken uses OpenSSL's thread-safe RNG).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

inline constexpr std::string_view kReadTokenPrefix = "mrd_";
inline constexpr size_t kReadTokenLength = 4 + 64;
inline constexpr size_t kMaxReadTokenName = 64;

// A new random token. Internal when the system has no randomness.
Result<std::string> GenerateReadToken();

// True when `text` has the shape of a read token (prefix, 64 lowercase hex digits).
bool IsReadTokenFormat(std::string_view text);

// The stored form of a token: lowercase hex SHA-256 of its text.
std::string HashReadToken(std::string_view token);

// OK, or InvalidArgument saying why `name` cannot name a token.
Status ValidateReadTokenName(std::string_view name);

}  // namespace mirrord
