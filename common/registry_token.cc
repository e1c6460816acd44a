#include "common/registry_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/admin_token.h"
#include "common/sha256.h"

namespace mirrord {
namespace {

constexpr std::string_view kPrefix = "mrr_";
constexpr std::string_view kAnonymous = "anonymous";

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

std::string Mac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return Hex(out, len);
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string RegistryTokenKey(std::string_view shared_secret) {
  return Sha256Hex("mirrord registry token key v1\n" + std::string(shared_secret));
}

std::string IssueRegistryToken(std::string_view key, const RegistryTokenClaims& claims) {
  std::string body = std::string(kPrefix) +
                     (claims.token_hash.empty() ? std::string(kAnonymous) : claims.token_hash) +
                     "_" + std::to_string(claims.expires_at);
  return body + "_" + Mac(key, body);
}

std::optional<RegistryTokenClaims> VerifyRegistryToken(std::string_view key, std::string_view text,
                                                       int64_t now) {
  if (text.size() > kMaxRegistryTokenLength || !text.starts_with(kPrefix)) return std::nullopt;
  size_t mac_at = text.rfind('_');
  if (mac_at == std::string_view::npos || mac_at < kPrefix.size()) return std::nullopt;
  std::string_view body = text.substr(0, mac_at);
  std::string_view mac = text.substr(mac_at + 1);
  if (mac.size() != 64 || !IsLowerHex(mac)) return std::nullopt;
  if (!SecretsEqual(mac, Mac(key, body))) return std::nullopt;
  std::string_view rest = body.substr(kPrefix.size());
  size_t sep = rest.find('_');
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view who = rest.substr(0, sep);
  std::string_view expiry = rest.substr(sep + 1);
  if (expiry.empty() || expiry.size() > 18) return std::nullopt;
  int64_t expires_at = 0;
  for (char c : expiry) {
    if (c < '0' || c > '9') return std::nullopt;
    expires_at = expires_at * 10 + (c - '0');
  }
  if (expires_at <= now) return std::nullopt;
  RegistryTokenClaims claims;
  claims.expires_at = expires_at;
  if (who != kAnonymous) {
    if (who.size() != 64 || !IsLowerHex(who)) return std::nullopt;
    claims.token_hash = std::string(who);
  }
  return claims;
}

}  // namespace mirrord
