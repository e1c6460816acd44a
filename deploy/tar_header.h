// Canonical tar headers for the layers of an OCI image: the same entry always gives the
// same bytes on any machine, so a layer's digest depends only on its files.
//
// Canonical means: POSIX ustar ("ustar\0" "00"), mtime fixed at kTarMtime, uid/gid 0, empty
// uname/gname, devmajor/devminor zero, numeric fields in zero-padded octal with a NUL, the
// checksum as six octal digits, NUL, space (what GNU tar and Go's archive/tar write). A PAX
// extended header (typeflag 'x', named "PaxHeaders.0/<last 80 bytes of the name>") comes
// first only where ustar cannot hold the entry: a path that does not split into
// prefix (<= 155 bytes) + '/' + name (<= 100 bytes) gets a "path" record, a size beyond
// 8 GiB - 1 (11 octal digits) gets a "size" record (the ustar size field is then 0). Records
// are sorted by key so the PAX block is canonical too.
//
// Paths are relative ("models/org/repo/model.bin"); directories end with '/'.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

inline constexpr uint64_t kTarBlockSize = 512;
// Every entry's mtime. 0 (the epoch), as reproducible-build tools use without a source date:
// a commit time here would change every weight layer's digest on every commit.
inline constexpr int64_t kTarMtime = 0;
// The largest size the ustar size field holds (11 octal digits).
inline constexpr uint64_t kTarMaxUstarSize = 077777777777ull;

enum class TarEntryType : char {
  kFile = '0',
  kSymlink = '2',
  kDirectory = '5',
};

struct TarEntry {
  TarEntryType type = TarEntryType::kFile;
  std::string path;     // relative; a directory's ends with '/'
  uint32_t mode = 0644;  // permission bits only (07777)
  uint64_t size = 0;     // file content bytes; 0 for directories and symlinks
  std::string link_target;  // symlinks only; at most 100 bytes
};

// The header block(s) for `entry`: 512 bytes, or more with a PAX header before it.
// InvalidArgument for an empty or absolute path, a path with a NUL byte or a ".." component,
// a directory path without its trailing '/', a file path with one, a link target over 100
// bytes or with a NUL, a mode beyond 07777, or a non-zero size on a directory or symlink.
Result<std::string> TarHeader(const TarEntry& entry);

// Bytes of zero padding after `size` content bytes, up to the next 512-byte boundary.
inline uint64_t TarPaddingSize(uint64_t size) {
  return (kTarBlockSize - size % kTarBlockSize) % kTarBlockSize;
}

// The end-of-archive marker: two zero blocks.
inline constexpr uint64_t kTarEndOfArchiveSize = 2 * kTarBlockSize;

}  // namespace mirrord
