// Checks that an image's weight files are what the build put there: present with their
// size always, and by SHA-256 as PREFLIGHT_VERIFY asks: "size" (no hashing), "sample" (the
// ranges the build hashed, a few MiB per file: well under a second for 100 GB), or "full"
// (every byte, files hashed in parallel on all cores).
// Thread-safety: CheckWeights may run concurrently with anything; it starts its own threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "deploy/preflight/preflight_manifest.h"

namespace mirrord::preflight {

enum class VerifyMode { kSize, kSample, kFull };

// "size", "sample", "full"; InvalidArgument for anything else.
Result<VerifyMode> ParseVerifyMode(std::string_view text);

struct WeightProblem {
  enum class Kind { kMissing, kWrongSize, kUnreadable, kMismatch };
  Kind kind = Kind::kMissing;
  std::string path;
  std::string detail;  // expected vs found, one line
};

struct WeightReport {
  std::vector<WeightProblem> problems;  // in manifest order
  uint64_t bytes_hashed = 0;
};

// Checks every file of `manifest` in `mode`, using up to `threads` threads for hashing (0:
// one per core). Never fails as a whole: each bad file is one problem.
WeightReport CheckWeights(const PreflightManifest& manifest, VerifyMode mode, unsigned threads = 0);

}  // namespace mirrord::preflight
