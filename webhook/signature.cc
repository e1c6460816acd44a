#include "webhook/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"

namespace mirrord {
namespace {

constexpr std::string_view kPrefix = "sha256=";
constexpr size_t kDigestBytes = 32;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "FATAL: OpenSSL %s failed\n", what);
  std::abort();
}

std::array<unsigned char, kDigestBytes> HmacSha256(std::string_view key, std::string_view data) {
  // HMAC() takes the key length as an int; a secret file over 2 GiB is not a secret.
  if (key.size() > INT_MAX) Die("HMAC (key too long)");
  static const unsigned char kEmpty[1] = {0};
  const void* key_ptr = key.empty() ? kEmpty : static_cast<const void*>(key.data());
  const unsigned char* data_ptr =
      data.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  std::array<unsigned char, kDigestBytes> mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), data_ptr, data.size(), mac.data(),
           &len) == nullptr ||
      len != kDigestBytes) {
    Die("HMAC");
  }
  return mac;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status Rejected(std::string_view why) {
  return PermissionDenied(std::string(kGitHubSignatureHeader) + ": " + std::string(why));
}

}  // namespace

Status VerifyGitHubSignature(std::string_view secret, std::string_view body,
                             std::string_view header_value) {
  if (secret.empty()) {
    return FailedPrecondition(
        "the GitHub webhook secret is empty; put a random secret in the file named by "
        "[webhooks.github] secret_file and the same one in the webhook's settings on GitHub");
  }
  std::string_view value = TrimSpaces(header_value);
  if (value.empty()) return Rejected("missing; set a secret in the webhook's settings on GitHub");
  if (value.substr(0, kPrefix.size()) != kPrefix) {
    if (value.substr(0, 5) == "sha1=") {
      return Rejected("a SHA-1 signature (sha1=) is not accepted; expected sha256=");
    }
    // Name the scheme the sender used, but echo nothing more of the header: a confused
    // client may have put its secret there.
    size_t eq = value.substr(0, 11).find('=');
    return Rejected(eq == std::string_view::npos
                        ? "expected \"sha256=<64 hex digits>\", got no \"<scheme>=\" prefix"
                        : "expected \"sha256=<64 hex digits>\", got scheme \"" +
                              PrintableExcerpt(value.substr(0, eq + 1), 11) + "\"");
  }
  std::string_view hex = value.substr(kPrefix.size());
  if (hex.size() != 2 * kDigestBytes) {
    return Rejected("expected 64 hex digits after sha256=, got " + std::to_string(hex.size()) +
                    " characters");
  }
  std::array<unsigned char, kDigestBytes> given{};
  for (size_t i = 0; i < kDigestBytes; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Rejected("the digest after sha256= is not hexadecimal");
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  std::array<unsigned char, kDigestBytes> expected = HmacSha256(secret, body);
  if (CRYPTO_memcmp(given.data(), expected.data(), kDigestBytes) != 0) {
    return Rejected(
        "signature does not match the body; the secret configured on GitHub differs from "
        "mirrord's, or the body was altered on the way");
  }
  return Status::Ok();
}

std::string GitHubSignature(std::string_view secret, std::string_view body) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<unsigned char, kDigestBytes> mac = HmacSha256(secret, body);
  std::string out(kPrefix);
  out.reserve(kPrefix.size() + 2 * kDigestBytes);
  for (unsigned char b : mac) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace mirrord
