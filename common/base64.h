// Base64 (RFC 4648 section 4, with padding) of bytes: HTTP Basic credentials, JWT parts.
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mirrord {

std::string Base64(std::string_view in);

// The bytes `in` encodes (standard alphabet, padding required, no whitespace, unused bits
// zero: one spelling per byte string); nullopt for anything else. Never reads or allocates more
// than in.size() bytes.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace mirrord
