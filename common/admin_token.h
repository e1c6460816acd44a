// The admin API's bearer token, kept in a file readable only by mirrord's user.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// Returns the token in `file` (trailing whitespace trimmed). When the file is absent,
// creates it with mode 0600 holding 32 random bytes as hex, durably and exclusively (never
// replacing a file another process created meanwhile), then reads the file back: processes
// racing on an empty root all return the one token that was published. Fails when the file
// exists but is empty or readable by others (mode & 077).
// Thread-safety: safe to call from several threads and processes at once.
Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& file);

// Reads an existing token file (mirrorctl's side); NotFound when absent.
Result<std::string> ReadTokenFile(const std::filesystem::path& file);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive,
// blanks around the token trimmed); false when the value uses another scheme.
bool ParseBearerToken(std::string_view header, std::string_view* token);

// Constant-time comparison of two secrets.
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace mirrord
