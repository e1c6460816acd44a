// The admin API's bearer token, kept in a file readable only by mirrord's user.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace mirrord {

// Returns the token in `file` (trailing whitespace trimmed). When the file is absent,
// creates it with mode 0600 holding 32 random bytes as hex, durably, and returns that.
// Fails when the file exists but is empty or readable by others (mode & 077).
Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& file);

// Reads an existing token file (mirrorctl's side); NotFound when absent.
Result<std::string> ReadTokenFile(const std::filesystem::path& file);

// Constant-time comparison of two secrets.
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace mirrord
