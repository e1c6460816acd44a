// Base64 (RFC 4648 section 4, with padding) of bytes: HTTP Basic credentials, JWT parts.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace mirrord {

std::string Base64(std::string_view in);

}  // namespace mirrord
