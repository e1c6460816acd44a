// Fuzz target for what a client's read token and an operator's globs go through:
// IsReadTokenFormat, ValidateReadTokenName, ValidateRepoGlob and RepoGlobMatches. The input
// is split at its first '\n' into a glob and a name. Invariants on every input:
//  - an accepted token is exactly "mrd_" + 64 lowercase hex digits;
//  - an invalid glob matches nothing; a valid glob without '*' matches only itself;
//  - "**" matches every valid repository name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/read_token.h"
#include "common/repo_glob.h"
#include "common/repo_name.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (mirrord::IsReadTokenFormat(input)) {
    Check(input.size() == mirrord::kReadTokenLength && input.starts_with("mrd_"));
    for (char c : input.substr(4)) Check((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  (void)mirrord::ValidateReadTokenName(input);
  size_t nl = input.find('\n');
  std::string_view glob = input.substr(0, nl);
  std::string_view name = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  const bool valid = mirrord::ValidateRepoGlob(glob).ok();
  const bool matches = mirrord::RepoGlobMatches(glob, name);
  if (!valid) Check(!matches);
  if (valid && glob.find('*') == std::string_view::npos) Check(matches == (glob == name));
  if (auto canonical = mirrord::ValidateRepoName(name); canonical.ok() && *canonical == name) {
    Check(mirrord::RepoGlobMatches("**", name));
  }
  return 0;
}
