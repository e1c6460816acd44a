// CudaRequirement: the NVIDIA_REQUIRE_CUDA constraint language of NVIDIA's container
// runtime, evaluated against what the driver on this host reports. A requirement is a list
// of alternatives separated by spaces (any one may hold); an alternative is a list of
// conditions separated by commas (all must hold). A condition is KEY OP VERSION with KEY one
// of `cuda` or `driver` and OP one of >=, <=, >, <, =, ==, !=; e.g.
//   "cuda>=12.1"                                  CUDA 12.1 or newer
//   "cuda>=11.8 brand=tesla,driver>=470,driver<471"  (brand/arch conditions are accepted
//                                                 and treated as holding: they do not
//                                                 decide whether the model can run)
// Versions compare numerically part by part ("12.10" > "12.9"; missing parts are 0).
// Thread-safety: value types.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord::preflight {

// A dotted version, e.g. {12, 1} for "12.1" or {535, 129, 3} for "535.129.03".
struct Version {
  std::vector<long> parts;
  // "12.1"; "" for an empty version.
  std::string ToString() const;
  // <0, 0, >0 as this is older than, equal to, newer than `other` (missing parts are 0).
  int Compare(const Version& other) const;
};

// Parses "12", "12.1", "535.129.03". InvalidArgument for anything else (empty parts,
// letters, more than 4 parts, a part above 1e9).
Result<Version> ParseVersion(std::string_view text);

// CUDA's integer version (cuDriverGetVersion: 1000 * major + 10 * minor) as a Version.
Version CudaVersionFromInt(int version);

struct CudaCondition {
  enum class Key { kCuda, kDriver, kOther };
  enum class Op { kGe, kLe, kGt, kLt, kEq, kNe };
  Key key = Key::kCuda;
  Op op = Op::kGe;
  Version version;   // unused for kOther
  std::string text;  // the condition as written, for messages
};

struct CudaRequirement {
  // Alternatives (OR) of conditions (AND). Empty: no requirement.
  std::vector<std::vector<CudaCondition>> alternatives;
  std::string text;  // as written

  // True when some alternative holds for a driver of version `driver` whose CUDA support is
  // `cuda`. An empty requirement always holds.
  bool SatisfiedBy(const Version& cuda, const Version& driver) const;
};

// Parses the NVIDIA_REQUIRE_CUDA syntax above, and the issue-style shorthand ">=12.1"
// (taken as "cuda>=12.1"). InvalidArgument naming the bad condition.
Result<CudaRequirement> ParseCudaRequirement(std::string_view text);

}  // namespace mirrord::preflight
