// Fuzz target for the registry token verifier (common/registry_token.h): whatever a client
// sends as "Bearer ...". Invariants on every input:
//  - verification never crashes and never accepts a token over kMaxRegistryTokenLength;
//  - an accepted token re-issued from its claims is exactly the input (one spelling);
//  - nothing verifies under another key, and an expired token never verifies.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/registry_token.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string key = mirrord::RegistryTokenKey("fuzz");
  if (auto claims = mirrord::VerifyRegistryToken(key, input, 1000)) {
    Check(input.size() <= mirrord::kMaxRegistryTokenLength);
    Check(claims->expires_at > 1000);
    Check(mirrord::IssueRegistryToken(key, *claims) == input);
    Check(!mirrord::VerifyRegistryToken(mirrord::RegistryTokenKey("other"), input, 1000));
    Check(!mirrord::VerifyRegistryToken(key, input, claims->expires_at));
  }
  // Tokens issued from fuzzed claims verify (the generator and the parser agree).
  mirrord::RegistryTokenClaims made;
  made.expires_at = 2000 + static_cast<int64_t>(size);
  if (size >= 32) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; ++i) {
      made.token_hash.push_back(kHex[static_cast<unsigned char>(data[i]) >> 4]);
      made.token_hash.push_back(kHex[static_cast<unsigned char>(data[i]) & 15]);
    }
  }
  auto back = mirrord::VerifyRegistryToken(key, mirrord::IssueRegistryToken(key, made), 1000);
  Check(back && back->token_hash == made.token_hash && back->expires_at == made.expires_at);
  return 0;
}
