#include "deploy/tar_header.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

namespace mirrord {
namespace {

constexpr size_t kNameLen = 100;
constexpr size_t kPrefixLen = 155;

// Writes `value` as `width - 1` zero-padded octal digits and a NUL at `field`.
// The caller guarantees the value fits.
void PutOctal(char* field, size_t width, uint64_t value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
}

// Splits `path` into ustar prefix and name, or nullopt when it cannot be held.
std::optional<std::pair<std::string_view, std::string_view>> SplitUstarPath(
    std::string_view path) {
  if (path.size() <= kNameLen) return std::pair{std::string_view(), path};
  // The name part is what follows some '/'; try the leftmost '/' that leaves a name that
  // fits (the longest name, the shortest prefix), as GNU tar does.
  // A directory's trailing '/' belongs to the name.
  std::string_view body = path;
  if (body.ends_with('/')) body.remove_suffix(1);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '/') continue;
    std::string_view prefix = path.substr(0, i);
    std::string_view name = path.substr(i + 1);
    if (name.size() <= kNameLen && prefix.size() <= kPrefixLen && !name.empty() &&
        !prefix.empty()) {
      return std::pair{prefix, name};
    }
  }
  return std::nullopt;
}

// One PAX record: "<len> <key>=<value>\n" where <len> counts the whole record.
std::string PaxRecord(std::string_view key, std::string_view value) {
  size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

// Copies `s` to `field` (memcpy with an empty view's null pointer is undefined).
void PutBytes(char* field, std::string_view s) {
  if (!s.empty()) std::memcpy(field, s.data(), s.size());
}

// One 512-byte ustar header block.
std::string UstarBlock(std::string_view prefix, std::string_view name, uint32_t mode,
                       uint64_t size, char typeflag, std::string_view link_target) {
  std::string block(kTarBlockSize, '\0');
  char* b = block.data();
  PutBytes(b + 0, name);
  PutOctal(b + 100, 8, mode);
  PutOctal(b + 108, 8, 0);  // uid
  PutOctal(b + 116, 8, 0);  // gid
  PutOctal(b + 124, 12, size);
  PutOctal(b + 136, 12, static_cast<uint64_t>(kTarMtime));
  std::memset(b + 148, ' ', 8);  // checksum counts as spaces while summing
  b[156] = typeflag;
  PutBytes(b + 157, link_target);
  std::memcpy(b + 257, "ustar\0" "00", 8);
  PutOctal(b + 329, 8, 0);  // devmajor
  PutOctal(b + 337, 8, 0);  // devminor
  PutBytes(b + 345, prefix);
  uint32_t sum = 0;
  for (unsigned char c : block) sum += c;
  PutOctal(b + 148, 7, sum);  // six digits and a NUL ...
  b[155] = ' ';               // ... then a space
  return block;
}

Status ValidateEntry(const TarEntry& e) {
  const std::string& p = e.path;
  if (p.empty()) return InvalidArgument("tar entry with an empty path");
  if (p.front() == '/') return InvalidArgument("tar entry path is absolute: " + p);
  if (p.find('\0') != std::string::npos) return InvalidArgument("tar entry path has a NUL byte");
  std::string_view rest = p;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    if (comp == ".." || (comp.empty() && slash != std::string_view::npos)) {
      return InvalidArgument("tar entry path has a '..' or empty component: " + p);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  bool dir_path = p.back() == '/';
  if ((e.type == TarEntryType::kDirectory) != dir_path) {
    return InvalidArgument("tar entry " + p + ": only directory paths end with '/'");
  }
  if (e.mode > 07777) return InvalidArgument("tar entry " + p + ": mode beyond 07777");
  if (e.type != TarEntryType::kFile && e.size != 0) {
    return InvalidArgument("tar entry " + p + ": only files have a size");
  }
  if (e.type == TarEntryType::kSymlink) {
    if (e.link_target.empty() || e.link_target.size() > kNameLen ||
        e.link_target.find('\0') != std::string::npos) {
      return InvalidArgument("tar entry " + p + ": link target empty, over 100 bytes or NUL");
    }
  } else if (!e.link_target.empty()) {
    return InvalidArgument("tar entry " + p + ": only symlinks have a link target");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> TarHeader(const TarEntry& entry) {
  RETURN_IF_ERROR(ValidateEntry(entry));
  std::map<std::string, std::string> pax;  // sorted by key: canonical
  auto split = SplitUstarPath(entry.path);
  std::string_view prefix, name;
  if (split) {
    std::tie(prefix, name) = *split;
  } else {
    pax["path"] = entry.path;
    // The ustar name keeps a recognisable tail; readers use the PAX path.
    name = std::string_view(entry.path).substr(entry.path.size() - kNameLen);
  }
  uint64_t ustar_size = entry.size;
  if (entry.size > kTarMaxUstarSize) {
    pax["size"] = std::to_string(entry.size);
    ustar_size = 0;
  }
  std::string out;
  if (!pax.empty()) {
    std::string records;
    for (const auto& [k, v] : pax) records += PaxRecord(k, v);
    std::string_view base = std::string_view(entry.path);
    if (base.ends_with('/')) base.remove_suffix(1);
    base = base.substr(base.rfind('/') == std::string_view::npos ? 0 : base.rfind('/') + 1);
    if (base.size() > 80) base = base.substr(base.size() - 80);
    std::string pax_name = "PaxHeaders.0/" + std::string(base);
    out += UstarBlock({}, pax_name, 0644, records.size(), 'x', {});
    out += records;
    out.append(TarPaddingSize(records.size()), '\0');
  }
  out += UstarBlock(prefix, name, entry.mode, ustar_size, static_cast<char>(entry.type),
                    entry.link_target);
  return out;
}

}  // namespace mirrord
