#include "daemon/hf_paths.h"

#include <vector>

#include "git/tree_reader.h"

namespace mirrord {
namespace {

constexpr std::string_view kResolve = "resolve";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    out.push_back(
        s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string_view PathOf(std::string_view raw_target) {
  return raw_target.substr(0, raw_target.find('?'));
}

// Decodes and joins segments [begin, end) of `segments` with '/'.
Result<std::string> JoinDecoded(const std::vector<std::string_view>& segments, size_t begin,
                                size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out += '/';
    ASSIGN_OR_RETURN(std::string part, HfPercentDecode(segments[i]));
    out += part;
  }
  return out;
}

// The repository id in segments [begin, end): decoded, each segment a plain name.
Result<std::string> RepoId(const std::vector<std::string_view>& segments, size_t begin,
                           size_t end) {
  if (begin >= end) return InvalidArgument("missing repository id");
  ASSIGN_OR_RETURN(std::string id, JoinDecoded(segments, begin, end));
  if (!IsValidTreePath(id)) return InvalidArgument("invalid repository id");
  return id;
}

// The revision starting at segments[*i], advancing *i past it: one (decoded) segment, or
// "refs/<kind>/<name>" sent unencoded.
Result<std::string> Revision(const std::vector<std::string_view>& segments, size_t* i) {
  if (*i >= segments.size() || segments[*i].empty()) return InvalidArgument("missing revision");
  ASSIGN_OR_RETURN(std::string rev, HfPercentDecode(segments[*i]));
  ++*i;
  if (rev == "refs" && *i + 1 < segments.size()) {
    ASSIGN_OR_RETURN(std::string rest, JoinDecoded(segments, *i, *i + 2));
    rev += "/" + rest;
    *i += 2;
  }
  if (rev.find('\0') != std::string::npos) return InvalidArgument("invalid revision");
  return rev;
}

}  // namespace

Result<std::string> HfPercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return InvalidArgument("malformed percent-escape");
    }
    int hi = HexValue(text[i + 1]);
    int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return InvalidArgument("malformed percent-escape");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string HfPercentEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool IsHfResolvePath(std::string_view path) {
  size_t pos = path.find("/resolve/");
  if (pos == std::string_view::npos || pos == 0) return false;
  std::string_view repo = path.substr(0, pos);
  if (repo == "/datasets") return false;
  // Git smart HTTP and LFS own anything under a "<name>.git" or with their suffixes.
  for (std::string_view git :
       {".git/", "/info/refs", "/git-upload-pack", "/git-receive-pack", "/info/lfs"}) {
    if (path.find(git) != std::string_view::npos && path.find(git) < pos) return false;
  }
  return !repo.ends_with(".git");
}

Result<HfResolveTarget> ParseHfResolveTarget(std::string_view raw_target) {
  std::string_view path = PathOf(raw_target);
  if (!path.starts_with('/')) return InvalidArgument("not an origin-form target");
  std::vector<std::string_view> segments = Split(path.substr(1));
  HfResolveTarget out;
  size_t begin = 0;
  if (!segments.empty() && segments[0] == "datasets") {
    out.type = HfRepoType::kDataset;
    begin = 1;
  }
  size_t keyword = begin + 1;
  while (keyword < segments.size() && segments[keyword] != kResolve) ++keyword;
  if (keyword >= segments.size()) return InvalidArgument("not a resolve URL");
  ASSIGN_OR_RETURN(out.repo_id, RepoId(segments, begin, keyword));
  size_t i = keyword + 1;
  ASSIGN_OR_RETURN(out.revision, Revision(segments, &i));
  if (i >= segments.size()) return InvalidArgument("missing file path");
  ASSIGN_OR_RETURN(out.path, JoinDecoded(segments, i, segments.size()));
  if (!IsValidTreePath(out.path)) return InvalidArgument("invalid file path");
  return out;
}

Result<HfApiTarget> ParseHfApiTarget(std::string_view raw_target) {
  std::string_view path = PathOf(raw_target);
  HfApiTarget out;
  std::string_view rest;
  if (path.starts_with("/api/models/")) {
    rest = path.substr(12);
  } else if (path.starts_with("/api/datasets/")) {
    out.type = HfRepoType::kDataset;
    rest = path.substr(14);
  } else {
    return InvalidArgument("not a models or datasets API URL");
  }
  std::vector<std::string_view> segments = Split(rest);
  size_t keyword = 1;
  auto is_keyword = [](std::string_view s) {
    return s == "revision" || s == "tree" || s == "paths-info" || s == "refs";
  };
  while (keyword < segments.size() && !is_keyword(segments[keyword])) ++keyword;
  ASSIGN_OR_RETURN(out.repo_id, RepoId(segments, 0, keyword));
  if (keyword == segments.size()) {
    out.kind = HfApiTarget::Kind::kInfo;
    out.revision = "HEAD";
    return out;
  }
  const std::string_view word = segments[keyword];
  size_t i = keyword + 1;
  if (word == "refs") {
    if (i != segments.size()) return InvalidArgument("unexpected path after refs");
    out.kind = HfApiTarget::Kind::kRefs;
    return out;
  }
  ASSIGN_OR_RETURN(out.revision, Revision(segments, &i));
  if (word == "revision" || word == "paths-info") {
    if (i != segments.size()) return InvalidArgument("unexpected path after the revision");
    out.kind = word == "revision" ? HfApiTarget::Kind::kInfo : HfApiTarget::Kind::kPathsInfo;
    return out;
  }
  out.kind = HfApiTarget::Kind::kTree;
  if (i < segments.size()) {
    ASSIGN_OR_RETURN(out.path, JoinDecoded(segments, i, segments.size()));
    if (!out.path.empty() && !IsValidTreePath(out.path)) return InvalidArgument("invalid path");
  }
  return out;
}

}  // namespace mirrord
