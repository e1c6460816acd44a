// Fuzz target for the parsers that see raw request paths: ParseRepoPath (the router's
// repository fallback) and ValidateRepoName. Invariants checked on every input:
//  - an accepted name re-validates to itself (canonical form is a fixed point);
//  - an accepted name can never address anything outside the store: no "..", no leading
//    '/', no empty segment, only [A-Za-z0-9._-/];
//  - an accepted path's rest is empty or starts with '/'.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/repo_name.h"
#include "daemon/router.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckName(const std::string& name) {
  Check(!name.empty() && name.front() != '/' && name.back() != '/');
  Check(name.find("..") == std::string::npos || name.find("/..") == std::string::npos);
  Check(name.find("//") == std::string::npos);
  for (char c : name) {
    Check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-' || c == '/');
  }
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    if (slash == std::string::npos) slash = name.size();
    std::string_view seg(name.data() + pos, slash - pos);
    Check(seg != "." && seg != ".." && !seg.empty() && seg.front() != '.');
    pos = slash + 1;
  }
  auto again = mirrord::ValidateRepoName(name);
  Check(again.ok() && *again == name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto name = mirrord::ValidateRepoName(input); name.ok()) CheckName(*name);
  std::string path = "/" + std::string(input);
  if (auto parsed = mirrord::ParseRepoPath(path); parsed.ok()) {
    CheckName(parsed->name);
    Check(parsed->rest.empty() || parsed->rest.front() == '/');
  }
  return 0;
}
