#include "common/repo_name.h"

#include <array>

#include "common/log.h"

namespace mirrord {
namespace {
// "datasets" is the Hugging Face endpoint's (/datasets/ORG/NAME/resolve/...).
constexpr std::array<std::string_view, 7> kReservedFirstSegments = {
    "api", "healthz", "readyz", "metrics", "webhooks", "v2", "datasets"};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string Printable(std::string_view s) { return PrintableExcerpt(s, 80); }
}  // namespace

Result<std::string> ValidateRepoName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid repository name \"" + Printable(name) +
                           "\": " + std::string(why));
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxRepoNameLength + 4) return bad("longer than 255 characters");
  std::string_view n = name;
  if (n.size() > 4 && n.substr(n.size() - 4) == ".git") n.remove_suffix(4);
  if (n.size() > kMaxRepoNameLength) return bad("longer than 255 characters");
  if (n.front() == '/') return bad("absolute path");
  size_t segments = 0;
  size_t pos = 0;
  while (pos <= n.size()) {
    size_t slash = n.find('/', pos);
    if (slash == std::string_view::npos) slash = n.size();
    std::string_view seg = n.substr(pos, slash - pos);
    ++segments;
    if (seg.empty()) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' and '..' segments are not allowed");
    if (seg.size() > kMaxRepoNameSegment)
      return bad("a path segment is longer than 100 characters");
    for (char c : seg) {
      if (!IsNameChar(c)) return bad("only letters, digits, '.', '_', '-' and '/' are allowed");
    }
    if (seg.front() == '.' || seg.front() == '-') return bad("a segment starts with '.' or '-'");
    if (seg.size() >= 5 && seg.substr(seg.size() - 5) == ".lock")
      return bad("a segment ends in .lock");
    // "a.git.git" or "a.git/b" would make clone URLs ambiguous ("/<name>.git/..." parsing).
    if (seg.size() >= 4 && seg.substr(seg.size() - 4) == ".git")
      return bad("a segment ends in .git");
    if (segments == 1) {
      for (auto reserved : kReservedFirstSegments) {
        if (seg == reserved)
          return bad("'" + std::string(reserved) + "' is reserved for mirrord's own URLs");
      }
    }
    pos = slash + 1;
  }
  if (segments > kMaxRepoNameSegments) return bad("more than 8 path segments");
  return std::string(n);
}

}  // namespace mirrord
