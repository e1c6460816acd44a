// The admin API's bearer token, kept in a file readable only by mirrord's user.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// Returns the token in `file` (trailing whitespace trimmed). When the file is absent,
// creates it with mode 0600 holding 32 random bytes as hex, durably, and returns that.
// Fails when the file exists but is empty or readable by others (mode & 077).
Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& file);

// Reads an existing token file (mirrorctl's side); NotFound when absent.
Result<std::string> ReadTokenFile(const std::filesystem::path& file);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive,
// blanks around the token trimmed); false when the value uses another scheme.
bool ParseBearerToken(std::string_view header, std::string_view* token);

// Constant-time comparison of two secrets.
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace mirrord
