// GitHub webhook signatures: the X-Hub-Signature-256 header is "sha256=" followed by the
// HMAC-SHA256 of the raw request body, keyed with the webhook's secret, as 64 hex digits.
// Verification runs over the exact bytes received, before any parsing.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

inline constexpr std::string_view kGitHubSignatureHeader = "X-Hub-Signature-256";

// Checks `header_value` (the X-Hub-Signature-256 header, surrounding spaces and tabs
// ignored) against the HMAC-SHA256 of `body` keyed with `secret`. The 32 decoded bytes are
// compared with CRYPTO_memcmp, so the time taken does not depend on how many of them match.
// GitHub sends lower-case hex; upper-case and mixed-case hex are accepted too, since they
// encode the same bytes.
//
// OK: the body was signed with `secret`.
// PermissionDenied (answer 401): the header is empty or missing, does not start with
//   "sha256=" (an old "sha1=" X-Hub-Signature value is named as such), its digest is not 64
//   hex digits, or the signature does not match. Messages never contain the secret or the
//   expected signature.
// FailedPrecondition (a server configuration error, not the sender's fault; answer 500):
//   `secret` is empty. An empty key would let anyone who guesses it sign deliveries, so it
//   is refused rather than used.
Status VerifyGitHubSignature(std::string_view secret, std::string_view body,
                             std::string_view header_value);

// The X-Hub-Signature-256 value GitHub would send for `body` under `secret`:
// "sha256=" + 64 lower-case hex digits. For tests, benchmarks and signing test deliveries.
// An empty secret is hashed as an empty key (HMAC allows it); VerifyGitHubSignature refuses it.
std::string GitHubSignature(std::string_view secret, std::string_view body);

}  // namespace mirrord
