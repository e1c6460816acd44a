// The credentials of an HTTP Authorization header, as git, git-lfs, huggingface_hub,
// docker and skopeo send them: "Basic base64(user:password)" or "Bearer <token>".
// The header is hostile input: it is parsed without allocation beyond its own size and
// any malformed value is simply "no credentials".
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mirrord {

// Longest Authorization value looked at; longer ones are refused (no token is that long).
inline constexpr size_t kMaxAuthorizationLength = 4096;

struct HttpCredentials {
  enum class Scheme { kBasic, kBearer };
  Scheme scheme = Scheme::kBasic;
  std::string user;    // Basic only: the user name (any; mirrord ignores it)
  std::string secret;  // Basic: the password; Bearer: the token
};

// Parses one Authorization header value: the scheme (case-insensitive) "Basic" or
// "Bearer", one or more blanks, then the credentials; blanks around them are trimmed.
// Basic's must be valid base64 of "user:password" (the first ':' splits); an empty password
// makes the user name the secret (a token written as the URL's user name); both empty is
// no credentials. nullopt for anything else: another scheme, an empty
// secret, control characters in the decoded text, a value over kMaxAuthorizationLength.
std::optional<HttpCredentials> ParseAuthorization(std::string_view header);

}  // namespace mirrord
