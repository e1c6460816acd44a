#include "common/read_token.h"

#include <openssl/rand.h>

#include "common/sha256.h"

namespace mirrord {

Result<std::string> GenerateReadToken() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Internal("no randomness for a read token");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token(kReadTokenPrefix);
  for (unsigned char b : raw) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  return token;
}

bool IsReadTokenFormat(std::string_view text) {
  if (text.size() != kReadTokenLength || !text.starts_with(kReadTokenPrefix)) return false;
  for (char c : text.substr(kReadTokenPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string HashReadToken(std::string_view token) { return Sha256Hex(token); }

Status ValidateReadTokenName(std::string_view name) {
  if (name.empty()) return InvalidArgument("a token name must not be empty");
  if (name.size() > kMaxReadTokenName) {
    return InvalidArgument("a token name is at most " + std::to_string(kMaxReadTokenName) +
                           " characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgument("a token name may contain only A-Z a-z 0-9 . _ -");
  }
  return Status::Ok();
}

}  // namespace mirrord
