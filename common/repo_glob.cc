#include "common/repo_glob.h"

#include <string>
#include <vector>

#include "common/repo_name.h"

namespace mirrord {
namespace {

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

// '*' within one segment: the classic two-pointer wildcard match, linear-ish and without
// recursion.
bool SegmentMatches(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool IsGlobChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '*';
}

}  // namespace

Status ValidateRepoGlob(std::string_view glob) {
  if (glob.empty()) return InvalidArgument("a repository glob must not be empty");
  if (glob.size() > kMaxRepoNameLength) {
    return InvalidArgument("a repository glob is at most " + std::to_string(kMaxRepoNameLength) +
                           " characters");
  }
  for (char c : glob) {
    if (!IsGlobChar(c) && c != '/') {
      return InvalidArgument("a repository glob may contain only A-Z a-z 0-9 . _ - / *");
    }
  }
  std::vector<std::string_view> segments = Split(glob);
  if (segments.size() > 2 * kMaxRepoNameSegments) {
    return InvalidArgument("a repository glob has too many segments");
  }
  for (std::string_view seg : segments) {
    if (seg.empty()) return InvalidArgument("a repository glob has an empty segment (\"//\")");
    if (seg.find("**") != std::string_view::npos && seg != "**") {
      return InvalidArgument("\"**\" must be a whole segment (\"org/**\")");
    }
  }
  return Status::Ok();
}

bool RepoGlobMatches(std::string_view glob, std::string_view name) {
  if (!ValidateRepoGlob(glob).ok() || name.empty()) return false;
  std::vector<std::string_view> g = Split(glob);
  std::vector<std::string_view> n = Split(name);
  // reach[j]: the first i glob segments can match the first j name segments.
  std::vector<char> reach(n.size() + 1, 0), next(n.size() + 1, 0);
  reach[0] = 1;
  for (std::string_view seg : g) {
    std::fill(next.begin(), next.end(), 0);
    if (seg == "**") {
      char any = 0;
      for (size_t j = 0; j <= n.size(); ++j) {
        any = any || reach[j];
        next[j] = any;
      }
    } else {
      for (size_t j = 0; j < n.size(); ++j) {
        if (reach[j] && SegmentMatches(seg, n[j])) next[j + 1] = 1;
      }
    }
    reach.swap(next);
  }
  return reach[n.size()] != 0;
}

}  // namespace mirrord
