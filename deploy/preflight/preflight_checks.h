// The checks mirrord-preflight runs before an image's inference binary starts, and what
// they say: one line each on stderr (what was expected, what was found, what to do), and
// the exit code of the first failure by the fixed order below. Kept apart from main() so
// that every branch is testable with given facts.
//
// Exit codes (a contract: documented in the README, used by scripts and orchestrators):
//   64 the manifest or PREFLIGHT_VERIFY is unusable     70 no NVIDIA driver in the container
//   71 the driver's CUDA does not meet the requirement  72 fewer visible GPUs than needed
//   73 not enough free GPU memory                       74 a weight file missing or wrong size
//   75 a weight file's content differs (SHA-256)        76 the command could not be executed
// Thread-safety: pure functions of their inputs (CheckWeights starts its own threads).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "deploy/preflight/nvidia_probe.h"
#include "deploy/preflight/preflight_manifest.h"
#include "deploy/preflight/weight_check.h"

namespace mirrord::preflight {

enum ExitCode : int {
  kExitOk = 0,
  kExitBadManifest = 64,
  kExitNoDriver = 70,
  kExitCudaTooOld = 71,
  kExitNoGpu = 72,
  kExitGpuMemory = 73,
  kExitWeightMissing = 74,
  kExitWeightCorrupt = 75,
  kExitExecFailed = 76,
};

// The environment the checks read, captured once (nullopt: unset).
struct PreflightEnv {
  std::optional<std::string> nvidia_visible_devices;
  std::optional<std::string> cuda_visible_devices;
  std::optional<std::string> nvidia_disable_require;
  std::optional<std::string> nvidia_require_cuda;  // the image's, used when the manifest has none
  std::optional<std::string> verify;               // PREFLIGHT_VERIFY; default "sample"
};

struct PreflightOutcome {
  std::vector<std::string> lines;  // "mirrord-preflight: ..." each, in check order
  int exit_code = kExitOk;         // kExitOk when every check passed
};

// True when the manifest or the image's NVIDIA_REQUIRE_CUDA asks for a GPU or a CUDA
// version (only then is the driver probed).
bool WantsGpu(const PreflightManifest& manifest, const PreflightEnv& env);

// Runs every check (all of them, so one start reports every problem; the exit code is the
// first failure's, in the order of the table above). `nvidia` is ProbeNvidia()'s answer;
// it is only consulted when the manifest asks for a GPU or a CUDA version.
PreflightOutcome RunChecks(const PreflightManifest& manifest, const PreflightEnv& env,
                           const Result<NvidiaFacts>& nvidia, unsigned hash_threads = 0);

}  // namespace mirrord::preflight
