// mirrord-preflight: the entrypoint wrapper the build stage puts into GPU images. Checks the
// NVIDIA driver, its CUDA version, the visible GPUs and their free memory, and the weight
// files against the manifest written at build time, one line per check on stderr; then
// replaces itself (execve) with the real entrypoint and command, unchanged, so the model
// server keeps PID 1, its signals and its arguments. Any failed check exits with its class's
// code (deploy/preflight/preflight_checks.h) before the command starts.
//
//   mirrord-preflight [--manifest FILE] [--] COMMAND [ARG...]
//   mirrord-preflight [--manifest FILE]            checks only; exit 0 when all pass
//
// Environment: PREFLIGHT_MANIFEST (default /etc/mirrord/preflight.manifest),
// PREFLIGHT_VERIFY=size|sample|full (default sample), NVIDIA_VISIBLE_DEVICES,
// CUDA_VISIBLE_DEVICES, NVIDIA_REQUIRE_CUDA, NVIDIA_DISABLE_REQUIRE.
// Needs nothing but the C library: the NVIDIA libraries are loaded at run time.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "deploy/preflight/nvidia_probe.h"
#include "deploy/preflight/preflight_checks.h"
#include "deploy/preflight/preflight_manifest.h"

namespace {

using namespace mirrord::preflight;

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

int Fail(int code, const std::string& line) {
  std::fprintf(stderr, "mirrord-preflight: FAILED (exit %d): %s\n", code, line.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string manifest_path = Env("PREFLIGHT_MANIFEST").value_or("/etc/mirrord/preflight.manifest");
  int first_command_arg = argc;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--manifest" && i + 1 < argc) {
      manifest_path = argv[++i];
    } else if (arg.starts_with("--manifest=")) {
      manifest_path = std::string(arg.substr(11));
    } else if (arg == "--") {
      first_command_arg = i + 1;
      break;
    } else {
      first_command_arg = i;
      break;
    }
  }

  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) {
    return Fail(kExitBadManifest, "cannot read the manifest " + manifest_path + ": " +
                                      std::strerror(errno) +
                                      " (set PREFLIGHT_MANIFEST, or rebuild the image)");
  }
  std::stringstream text;
  text << in.rdbuf();
  auto manifest = mirrord::preflight::ParseManifest(text.str());
  if (!manifest.ok()) return Fail(kExitBadManifest, manifest.status().message());

  PreflightEnv env;
  env.nvidia_visible_devices = Env("NVIDIA_VISIBLE_DEVICES");
  env.cuda_visible_devices = Env("CUDA_VISIBLE_DEVICES");
  env.nvidia_disable_require = Env("NVIDIA_DISABLE_REQUIRE");
  env.nvidia_require_cuda = Env("NVIDIA_REQUIRE_CUDA");
  env.verify = Env("PREFLIGHT_VERIFY");

  mirrord::Result<NvidiaFacts> nvidia = mirrord::NotFound("not probed: no GPU needed");
  if (WantsGpu(*manifest, env)) nvidia = ProbeNvidia();
  PreflightOutcome outcome = RunChecks(*manifest, env, nvidia);
  for (const std::string& line : outcome.lines) std::fprintf(stderr, "%s\n", line.c_str());
  if (outcome.exit_code != kExitOk) return outcome.exit_code;
  if (first_command_arg >= argc) return kExitOk;

  std::fflush(stderr);
  ::execvp(argv[first_command_arg], argv + first_command_arg);
  return Fail(kExitExecFailed, std::string("cannot execute ") + argv[first_command_arg] + ": " +
                                   std::strerror(errno));
}
