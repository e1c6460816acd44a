// Fuzz target for the X-Hub-Signature-256 check. The input is split at its first newline
// into a secret and a body (no newline: the input is both). Invariants checked:
//  - GitHubSignature output verifies under the same secret, in lower and upper case;
//  - changing any one hex digit of it, or one byte of the body, makes verification fail;
//  - the input used as the header value verifies only if it is that signature (up to
//    surrounding blanks and hex case);
//  - an empty secret is always refused as FailedPrecondition.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "webhook/signature.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

std::string Normalised(std::string_view header) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) {
    header.remove_prefix(1);
  }
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) {
    header.remove_suffix(1);
  }
  std::string out(header);
  for (size_t i = 7; i < out.size(); ++i) {
    if (out[i] >= 'A' && out[i] <= 'F') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view secret = newline == std::string_view::npos ? input : input.substr(0, newline);
  std::string_view body = newline == std::string_view::npos ? input : input.substr(newline + 1);

  const std::string signature = mirrord::GitHubSignature(secret, body);
  Check(signature.size() == 7 + 64 && signature.compare(0, 7, "sha256=") == 0);
  mirrord::Status verified = mirrord::VerifyGitHubSignature(secret, body, signature);
  if (secret.empty()) {
    Check(verified.code() == mirrord::StatusCode::kFailedPrecondition);
    Check(mirrord::VerifyGitHubSignature(secret, body, input).code() ==
          mirrord::StatusCode::kFailedPrecondition);
    return 0;
  }
  Check(verified.ok());
  std::string upper = signature;
  for (size_t i = 7; i < upper.size(); ++i) {
    if (upper[i] >= 'a' && upper[i] <= 'f') upper[i] = static_cast<char>(upper[i] - 'a' + 'A');
  }
  Check(mirrord::VerifyGitHubSignature(secret, body, upper).ok());

  size_t digit = 7 + size % 64;
  std::string tampered = signature;
  tampered[digit] = tampered[digit] == '0' ? '1' : '0';
  Check(mirrord::VerifyGitHubSignature(secret, body, tampered).code() ==
        mirrord::StatusCode::kPermissionDenied);
  if (!body.empty()) {
    std::string changed(body);
    changed[size % changed.size()] ^= 1;
    Check(mirrord::VerifyGitHubSignature(secret, changed, signature).code() ==
          mirrord::StatusCode::kPermissionDenied);
  }

  mirrord::Status as_header = mirrord::VerifyGitHubSignature(secret, body, input);
  Check(as_header.ok() || as_header.code() == mirrord::StatusCode::kPermissionDenied);
  if (as_header.ok()) Check(Normalised(input) == signature);
  return 0;
}
