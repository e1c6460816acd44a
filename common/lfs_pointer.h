// Git LFS pointer files (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md): the
// small text blobs that stand in for large files in a repository's trees. The format is
// shared by git/ (the pointer scan of trees), lfs/ (downloads) and deploy/, so it lives in
// common/ and git/ needs nothing of lfs/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mirrord {

// Pointers are smaller than this many bytes; larger blobs are never pointers.
inline constexpr uint64_t kMaxLfsPointerSize = 1024;

// An LFS object as a pointer names it.
struct LfsPointer {
  std::string oid;  // 64 lowercase hex digits (SHA-256 of the content)
  uint64_t size = 0;

  friend bool operator==(const LfsPointer&, const LfsPointer&) = default;
  friend auto operator<=>(const LfsPointer&, const LfsPointer&) = default;
};

// True for exactly 64 lowercase hex digits.
bool IsValidLfsOid(std::string_view oid);

// Parses a blob as a pointer per the spec: under 1024 bytes, UTF-8 "key value\n" lines,
// first key `version` with value https://git-lfs.github.com/spec/v1 (or the legacy
// https://hawser.github.com/spec/v1), keys after it sorted, `oid sha256:<64 hex>` and
// `size <decimal>` present, every line ending in '\n'. Anything else (including a
// malformed near-pointer) is not a pointer: nullopt.
// In detail: exactly one space between key and value; no empty lines and no '\r' (CRLF
// pointers are refused); besides oid and size only extension keys `ext-<digit>-<[a-z0-9]+>`
// with a `sha256:<64 hex>` value, each priority digit at most once; size is digits only (no
// sign) and at most INT64_MAX, as git-lfs reads it. Extensions are checked, not returned.
std::optional<LfsPointer> ParseLfsPointer(std::string_view blob);

// The canonical pointer text for `pointer` (what `git lfs` writes).
std::string FormatLfsPointer(const LfsPointer& pointer);

}  // namespace mirrord
