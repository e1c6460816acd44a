#include "lfs/http_range.h"

#include <limits>

#include "common/log.h"

namespace mirrord {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Untrusted text for an error message: at most 64 bytes, non-printable bytes escaped.
std::string Printable(std::string_view s) { return PrintableExcerpt(s, 64); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Strips RFC 9110 optional whitespace (SP, HTAB) from both ends.
std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// 1*DIGIT at the front of *s, consumed. `saturate` reads an overflowing number as 2^64 - 1;
// otherwise overflow fails.
bool ConsumeNumber(std::string_view* s, bool saturate, uint64_t* out) {
  size_t n = 0;
  uint64_t v = 0;
  bool overflow = false;
  while (n < s->size() && IsDigit((*s)[n])) {
    uint64_t digit = static_cast<uint64_t>((*s)[n] - '0');
    if (v > (kMaxU64 - digit) / 10) {
      overflow = true;
    } else {
      v = v * 10 + digit;
    }
    ++n;
  }
  if (n == 0 || (overflow && !saturate)) return false;
  s->remove_prefix(n);
  *out = overflow ? kMaxU64 : v;
  return true;
}

// The range-set's one non-empty element, or nullopt when it has none or several.
std::optional<std::string_view> SingleRangeSpec(std::string_view range_set) {
  std::optional<std::string_view> only;
  size_t pos = 0;
  while (true) {
    size_t comma = range_set.find(',', pos);
    std::string_view element =
        TrimOws(range_set.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    if (!element.empty()) {
      if (only) return std::nullopt;
      only = element;
    }
    if (comma == std::string_view::npos) return only;
    pos = comma + 1;
  }
}

}  // namespace

HttpRangeSelection SelectHttpRange(std::string_view header, uint64_t size) {
  using Kind = HttpRangeSelection::Kind;
  const HttpRangeSelection whole{Kind::kWhole, 0, 0};
  const HttpRangeSelection unsatisfiable{Kind::kUnsatisfiable, 0, 0};
  header = TrimOws(header);
  size_t equals = header.find('=');
  if (equals == std::string_view::npos || !EqualsIgnoreCase(header.substr(0, equals), "bytes")) {
    return whole;
  }
  std::optional<std::string_view> spec = SingleRangeSpec(header.substr(equals + 1));
  if (!spec) return whole;
  std::string_view s = *spec;
  if (s.front() == '-') {  // suffix-range: the last n bytes
    s.remove_prefix(1);
    uint64_t n = 0;
    if (!ConsumeNumber(&s, /*saturate=*/true, &n) || !s.empty()) return whole;
    if (n == 0) return unsatisfiable;
    if (size == 0) return whole;
    return {Kind::kPartial, n >= size ? 0 : size - n, size};
  }
  uint64_t first = 0;
  if (!ConsumeNumber(&s, /*saturate=*/true, &first) || s.empty() || s.front() != '-') {
    return whole;
  }
  s.remove_prefix(1);
  uint64_t last = kMaxU64;
  if (!s.empty()) {
    if (!ConsumeNumber(&s, /*saturate=*/true, &last) || !s.empty()) return whole;
    if (last < first) return whole;  // an invalid range-spec (RFC 9110 §14.1.1)
  }
  if (first >= size) return unsatisfiable;
  return {Kind::kPartial, first, last >= size - 1 ? size : last + 1};
}

std::string ContentRangeHeader(uint64_t begin, uint64_t end, uint64_t total) {
  return "bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) + "/" +
         std::to_string(total);
}

std::string UnsatisfiedContentRangeHeader(uint64_t total) {
  return "bytes */" + std::to_string(total);
}

Result<ContentRange> ParseContentRange(std::string_view value) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("bad Content-Range (" + std::string(why) + "): \"" + Printable(value) +
                           "\"");
  };
  std::string_view s = TrimOws(value);
  size_t space = s.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoreCase(s.substr(0, space), "bytes")) {
    return bad("expected the unit bytes");
  }
  s.remove_prefix(space + 1);
  ContentRange out;
  if (!s.empty() && s.front() == '*') {
    s.remove_prefix(1);
    if (s.empty() || s.front() != '/') return bad("expected '/' after '*'");
    s.remove_prefix(1);
    uint64_t total = 0;
    if (!ConsumeNumber(&s, /*saturate=*/false, &total) || !s.empty()) {
      return bad("expected the complete length after \"*/\"");
    }
    out.unsatisfied = true;
    out.total = total;
    return out;
  }
  uint64_t first = 0, last = 0;
  if (!ConsumeNumber(&s, /*saturate=*/false, &first) || s.empty() || s.front() != '-') {
    return bad("expected first-last");
  }
  s.remove_prefix(1);
  if (!ConsumeNumber(&s, /*saturate=*/false, &last) || s.empty() || s.front() != '/') {
    return bad("expected first-last/length");
  }
  s.remove_prefix(1);
  if (last < first) return bad("last byte before first byte");
  if (last == kMaxU64) return bad("range too large");
  if (s == "*") {
    s.remove_prefix(1);
  } else {
    uint64_t total = 0;
    if (!ConsumeNumber(&s, /*saturate=*/false, &total) || !s.empty()) {
      return bad("expected the complete length or '*'");
    }
    if (last >= total) return bad("range ends past the complete length");
    out.total = total;
  }
  out.begin = first;
  out.end = last + 1;
  return out;
}

}  // namespace mirrord
