// Fuzz target for the Authorization header parser (common/http_credentials.h) and the
// base64 decoder under it. Invariants on every input:
//  - parsing never crashes and never accepts a value over kMaxAuthorizationLength;
//  - accepted credentials have a non-empty secret without control characters;
//  - a Basic value re-encoded from what was parsed parses to the same credentials;
//  - Base64Decode output re-encodes to its input (the decoder is exact, not lenient).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/base64.h"
#include "common/http_credentials.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto c = mirrord::ParseAuthorization(input)) {
    Check(input.size() <= mirrord::kMaxAuthorizationLength);
    Check(!c->secret.empty());
    for (unsigned char ch : c->secret) Check(ch >= 0x20 && ch != 0x7f);
    if (c->scheme == mirrord::HttpCredentials::Scheme::kBasic) {
      std::string password = c->secret == c->user ? std::string() : c->secret;
      auto again =
          mirrord::ParseAuthorization("Basic " + mirrord::Base64(c->user + ":" + password));
      Check(again && again->user == c->user && again->secret == c->secret);
    }
  }
  if (auto decoded = mirrord::Base64Decode(input)) Check(mirrord::Base64(*decoded) == input);
  return 0;
}
