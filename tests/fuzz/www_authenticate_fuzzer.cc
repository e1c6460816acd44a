// Fuzz target for ParseWwwAuthenticate (http/www_authenticate.h), which reads the
// WWW-Authenticate challenges of any registry a push talks to. Invariants on every input:
//  - bounded: never more than kMaxAuthChallenges challenges or kMaxAuthParams parameters,
//    and nothing accepted above kMaxWwwAuthenticateBytes;
//  - every challenge has a lower-case token scheme, parameter names are lower-case tokens,
//    values hold no control characters but tab;
//  - canonical round trip: writing the result back (values quoted and escaped) and parsing
//    it again gives the same challenges.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/www_authenticate.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool IsLowerToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string Write(const std::vector<mirrord::AuthChallenge>& challenges) {
  std::string out;
  for (const mirrord::AuthChallenge& c : challenges) {
    if (!out.empty()) out += ", ";
    out += c.scheme;
    if (!c.token68.empty()) {
      out += " " + c.token68;
      continue;
    }
    for (size_t i = 0; i < c.params.size(); ++i) {
      out += i == 0 ? " " : ", ";
      out += c.params[i].first + "=\"";
      for (char ch : c.params[i].second) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      out += '"';
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = mirrord::ParseWwwAuthenticate(input);
  if (!parsed.ok()) return 0;
  Check(input.size() <= mirrord::kMaxWwwAuthenticateBytes);
  Check(parsed->size() <= mirrord::kMaxAuthChallenges);
  for (const mirrord::AuthChallenge& c : *parsed) {
    Check(IsLowerToken(c.scheme));
    Check(c.params.size() <= mirrord::kMaxAuthParams);
    Check(c.token68.empty() || c.params.empty());
    for (const auto& [name, value] : c.params) {
      Check(IsLowerToken(name));
      for (char ch : value) {
        Check(ch == '\t' || (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f));
      }
    }
  }
  std::string again = Write(*parsed);
  if (again.size() > mirrord::kMaxWwwAuthenticateBytes) return 0;  // escapes grew it
  auto reparsed = mirrord::ParseWwwAuthenticate(again);
  Check(reparsed.ok());
  Check(reparsed->size() == parsed->size());
  for (size_t i = 0; i < parsed->size(); ++i) {
    Check((*reparsed)[i].scheme == (*parsed)[i].scheme);
    Check((*reparsed)[i].token68 == (*parsed)[i].token68);
    Check((*reparsed)[i].params == (*parsed)[i].params);
  }
  return 0;
}
