// Fuzz target for ParseLfsPointer, which reads every small blob of every mirrored tree.
// Invariants checked on every input:
//  - an accepted input is under kMaxLfsPointerSize bytes, ends in '\n' and holds no '\r';
//  - an accepted pointer has a valid oid and a size of at most INT64_MAX;
//  - the canonical text of an accepted pointer parses back to the same pointer, and the
//    canonical text is a fixed point of parse-then-format.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "common/lfs_pointer.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::optional<mirrord::LfsPointer> pointer = mirrord::ParseLfsPointer(input);
  if (!pointer) return 0;
  Check(input.size() < mirrord::kMaxLfsPointerSize);
  Check(!input.empty() && input.back() == '\n');
  Check(input.find('\r') == std::string_view::npos);
  Check(mirrord::IsValidLfsOid(pointer->oid));
  Check(pointer->size <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  std::string canonical = mirrord::FormatLfsPointer(*pointer);
  std::optional<mirrord::LfsPointer> again = mirrord::ParseLfsPointer(canonical);
  Check(again.has_value() && *again == *pointer);
  Check(mirrord::FormatLfsPointer(*again) == canonical);
  return 0;
}
