#include "git/upload_pack_request.h"

#include <algorithm>
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

bool UploadPackRequestShape::Feed(std::string_view bytes) {
  constexpr size_t kMaxPktLength = 65520;  // git's LARGE_PACKET_MAX
  constexpr std::string_view kWant = "want ";
  constexpr std::string_view kCommand = "command=";
  while (!malformed_ && !bytes.empty()) {
    if (remaining_ > 0) {
      size_t n = std::min(remaining_, bytes.size());
      if (!first_data_checked_) {
        first_prefix_.append(bytes.substr(0, std::min(n, kCommand.size() - first_prefix_.size())));
        size_t seen = first_len_ - remaining_ + n;
        if (first_prefix_.size() >= kCommand.size() || seen == first_len_) {
          std::string_view p = first_prefix_;
          malformed_ = !(p.starts_with(kWant) || p.starts_with(kCommand));
          first_data_checked_ = true;
        }
      }
      remaining_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    header_[header_len_++] = bytes.front();
    bytes.remove_prefix(1);
    if (header_len_ < 4) continue;
    header_len_ = 0;
    std::optional<size_t> len = PktLength(std::string_view(header_, 4));
    if (!len || *len == 3 || *len > kMaxPktLength) {
      malformed_ = true;
      break;
    }
    if (*len <= 2) continue;  // flush, delim, response-end
    if (*len == 4) {           // an empty data line: never a valid first line
      if (!first_data_checked_) malformed_ = true;
      continue;
    }
    remaining_ = *len - 4;
    if (!first_data_checked_) first_len_ = remaining_;
  }
  return !malformed_;
}

}  // namespace mirrord
