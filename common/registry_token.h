// Registry tokens: what mirrord's registry token endpoint (/v2/token, the Docker token
// flow) hands to docker, skopeo and containerd, and what they then send as
// "Authorization: Bearer <registry token>".
//
// A registry token says who the client is, not what it may pull: it names the read token
// the client authenticated with (by that token's stored hash) or "anonymous", and when it
// expires; it is HMAC-SHA256-signed with a key only mirrord nodes know. Each request is
// authorised against the read token's current globs, so a revoked read token stops working
// at once (its registry tokens name a hash the catalog no longer has), and a registry token
// never grants more than its read token does. Short-lived (kRegistryTokenLifetime), so a
// leaked one is of little use; it holds no secret (the hash of a 256-bit token is not one).
//
//   mrr_<64 hex hash | "anonymous">_<expiry, unix seconds>_<64 hex HMAC of what precedes>
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mirrord {

inline constexpr std::chrono::seconds kRegistryTokenLifetime{300};
inline constexpr size_t kMaxRegistryTokenLength = 4 + 64 + 1 + 20 + 1 + 64;

struct RegistryTokenClaims {
  std::string token_hash;  // HashReadToken of the read token; "" for anonymous
  int64_t expires_at = 0;  // unix seconds
};

// The key registry tokens are signed with, derived from a secret every node shares (the
// admin token).
std::string RegistryTokenKey(std::string_view shared_secret);

std::string IssueRegistryToken(std::string_view key, const RegistryTokenClaims& claims);

// The claims of `text` when it is a registry token signed with `key` that has not expired at
// `now` (unix seconds); nullopt for anything else (compared in constant time).
std::optional<RegistryTokenClaims> VerifyRegistryToken(std::string_view key, std::string_view text,
                                                       int64_t now);

}  // namespace mirrord
