#include "common/lfs_pointer.h"

#include <limits>

namespace mirrord {
namespace {

constexpr std::string_view kVersionV1 = "https://git-lfs.github.com/spec/v1";
constexpr std::string_view kVersionHawser = "https://hawser.github.com/spec/v1";
constexpr std::string_view kSha256Prefix = "sha256:";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); }

// `sha256:<64 lowercase hex>`, the only hash method the spec defines; *oid gets the hex.
bool ParseSha256Value(std::string_view value, std::string_view* oid) {
  if (!value.starts_with(kSha256Prefix)) return false;
  value.remove_prefix(kSha256Prefix.size());
  if (!IsValidLfsOid(value)) return false;
  *oid = value;
  return true;
}

// Decimal digits only (no sign, no space), at most INT64_MAX: git-lfs reads sizes as int64.
bool ParseSize(std::string_view value, uint64_t* size) {
  if (value.empty()) return false;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t n = 0;
  for (char c : value) {
    if (!IsDigit(c)) return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (n > (kMax - digit) / 10) return false;
    n = n * 10 + digit;
  }
  *size = n;
  return true;
}

// `ext-<digit>-<name>`: an extension key (name in [a-z0-9]+, the spec's key alphabet minus
// the separators git-lfs's own pattern would not accept).
bool IsExtensionKey(std::string_view key) {
  if (key.size() < 7 || !key.starts_with("ext-") || !IsDigit(key[4]) || key[5] != '-') {
    return false;
  }
  for (char c : key.substr(6)) {
    if (!IsLowerAlnum(c)) return false;
  }
  return true;
}

}  // namespace

bool IsValidLfsOid(std::string_view oid) {
  if (oid.size() != 64) return false;
  for (char c : oid) {
    if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

std::optional<LfsPointer> ParseLfsPointer(std::string_view blob) {
  if (blob.size() >= kMaxLfsPointerSize || blob.empty() || blob.back() != '\n') {
    return std::nullopt;
  }
  std::optional<std::string_view> oid;
  std::optional<uint64_t> size;
  std::string_view previous_key;  // keys after `version` must be strictly ascending
  char last_priority = 0;         // the digit of the last extension key, 0 before one
  bool first = true;
  size_t pos = 0;
  while (pos < blob.size()) {
    size_t newline = blob.find('\n', pos);  // never npos: the blob ends in '\n'
    std::string_view line = blob.substr(pos, newline - pos);
    pos = newline + 1;
    // Exactly one space between key and value; keys are [a-z0-9.-] and values hold no
    // spaces for any key we accept, so a second space (or a '\r') fails below.
    size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    std::string_view key = line.substr(0, space);
    std::string_view value = line.substr(space + 1);
    if (first) {
      if (key != "version" || (value != kVersionV1 && value != kVersionHawser)) {
        return std::nullopt;
      }
      first = false;
      continue;
    }
    if (!previous_key.empty() && key <= previous_key) return std::nullopt;
    previous_key = key;
    if (key == "oid") {
      std::string_view hex;
      if (!ParseSha256Value(value, &hex)) return std::nullopt;
      oid = hex;
    } else if (key == "size") {
      uint64_t n = 0;
      if (!ParseSize(value, &n)) return std::nullopt;
      size = n;
    } else if (IsExtensionKey(key)) {
      // Extensions run in priority order, so two with one priority are ambiguous (git-lfs
      // refuses them too); sorted keys put such a pair next to each other.
      if (key[4] == last_priority) return std::nullopt;
      last_priority = key[4];
      std::string_view unused;
      if (!ParseSha256Value(value, &unused)) return std::nullopt;
    } else {
      return std::nullopt;  // unknown key: git-lfs itself would not take this as a pointer
    }
  }
  if (!oid || !size) return std::nullopt;
  return LfsPointer{std::string(*oid), *size};
}

std::string FormatLfsPointer(const LfsPointer& pointer) {
  std::string text;
  text.reserve(kVersionV1.size() + pointer.oid.size() + 48);
  text.append("version ").append(kVersionV1).append("\n");
  text.append("oid sha256:").append(pointer.oid).append("\n");
  text.append("size ").append(std::to_string(pointer.size)).append("\n");
  return text;
}

}  // namespace mirrord
