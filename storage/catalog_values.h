// How the catalog's run tables store values SQLite has no type for: unsigned sizes as
// INTEGER (clamped to int64's range) and tag lists as one TEXT, a tag per line (a tag never
// holds a newline: the tag grammar). Shared by catalog_build_runs.cc and catalog_push_runs.cc.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace mirrord::catalog_values {

inline int64_t ToSqlInt(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}

inline std::string JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const std::string& t : tags) {
    if (!out.empty()) out += '\n';
    out += t;
  }
  return out;
}

inline std::vector<std::string> SplitTags(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const size_t nl = joined.find('\n');
    out.emplace_back(joined.substr(0, nl));
    if (nl == std::string_view::npos) break;
    joined.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace mirrord::catalog_values
