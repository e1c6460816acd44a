#include "git/upload_pack_request.h"

#include <cstdio>
#include <optional>

namespace mirrord {
namespace {

constexpr std::string_view kDonePkt = "0009done\n";

std::optional<size_t> PktLength(std::string_view header) {
  size_t n = 0;
  for (char c : header) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    n = n * 16 + static_cast<size_t>(digit);
  }
  return n;
}

// Offset of the last pkt-line when `body` is a complete sequence of pkt-lines, else nullopt.
std::optional<size_t> LastPktOffset(std::string_view body) {
  size_t pos = 0;
  std::optional<size_t> last;
  while (pos < body.size()) {
    if (body.size() - pos < 4) return std::nullopt;
    std::optional<size_t> len = PktLength(body.substr(pos, 4));
    if (!len) return std::nullopt;
    last = pos;
    if (*len == 0 || *len == 1 || *len == 2) {  // flush, delim, response-end
      pos += 4;
      continue;
    }
    if (*len < 4 || *len > body.size() - pos) return std::nullopt;
    pos += *len;
  }
  return last;
}

bool IsOidHex(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string WithExtraHaves(std::string_view body, const std::vector<std::string>& haves) {
  std::optional<size_t> last = LastPktOffset(body);
  if (!last || body.substr(*last) != kDonePkt) return std::string(body);
  std::string out;
  out.reserve(body.size() + haves.size() * 50);
  out.append(body.substr(0, *last));
  size_t added = 0;
  for (const std::string& oid : haves) {
    if (added == kMaxExtraHaves) break;
    if (!IsOidHex(oid)) continue;
    out.append("0032have ");  // 4 + 5 + 40 + 1 = 50 = 0x32
    out.append(oid);
    out.push_back('\n');
    ++added;
  }
  out.append(kDonePkt);
  return out;
}

}  // namespace mirrord
