#include "deploy/preflight/preflight_checks.h"

#include <algorithm>

#include "deploy/preflight/cuda_requirement.h"
#include "deploy/preflight/visible_devices.h"

namespace mirrord::preflight {
namespace {

// "12.0 GiB", or "3.5 MiB" below a GiB.
std::string GiB(uint64_t bytes) {
  char buf[32];
  if (bytes < (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  }
  return buf;
}

bool Truthy(const std::optional<std::string>& v) {
  return v.has_value() && !v->empty() && *v != "0" && *v != "false";
}

class Outcome {
 public:
  void Ok(const std::string& line) { out_.lines.push_back("mirrord-preflight: ok: " + line); }
  void Fail(int code, const std::string& line) {
    out_.lines.push_back("mirrord-preflight: FAILED (exit " + std::to_string(code) + "): " + line);
    failures_.push_back(code);
  }
  PreflightOutcome Take() {
    static constexpr int kOrder[] = {kExitBadManifest,   kExitNoDriver,   kExitCudaTooOld,
                                     kExitNoGpu,         kExitGpuMemory,  kExitWeightMissing,
                                     kExitWeightCorrupt, kExitExecFailed};
    for (int code : kOrder) {
      if (std::find(failures_.begin(), failures_.end(), code) != failures_.end()) {
        out_.exit_code = code;
        break;
      }
    }
    return std::move(out_);
  }

 private:
  PreflightOutcome out_;
  std::vector<int> failures_;
};

// The manifest's CUDA requirement, else the image's NVIDIA_REQUIRE_CUDA.
std::string RequireText(const PreflightManifest& m, const PreflightEnv& env) {
  if (!m.require_cuda.empty()) return m.require_cuda;
  return env.nvidia_require_cuda.value_or("");
}

void CheckGpu(const PreflightManifest& m, const PreflightEnv& env,
              const Result<NvidiaFacts>& nvidia, Outcome& out) {
  if (!WantsGpu(m, env)) return;
  const std::string require_text = RequireText(m, env);
  if (!nvidia.ok()) {
    out.Fail(kExitNoDriver,
             "no NVIDIA driver in this container (" + nvidia.status().message() +
                 "): run it with the NVIDIA container runtime, e.g. docker run --gpus all");
    return;
  }
  const NvidiaFacts& f = *nvidia;
  const Version cuda = CudaVersionFromInt(f.cuda_version);
  const Version driver = ParseVersion(f.driver_version).value_or(Version{});
  std::string have = "driver " + f.driver_version + " supports CUDA " + cuda.ToString();

  if (require_text.empty()) {
    out.Ok(have + " (no CUDA requirement)");
  } else if (Truthy(env.nvidia_disable_require)) {
    out.Ok(have + "; requirement \"" + require_text + "\" not checked: NVIDIA_DISABLE_REQUIRE is set");
  } else {
    Result<CudaRequirement> req = ParseCudaRequirement(require_text);
    if (!req.ok()) {
      out.Fail(kExitBadManifest, "CUDA requirement unusable: " + req.status().message());
    } else if (f.cuda_version == 0) {
      out.Fail(kExitCudaTooOld, "the image needs " + require_text + ", but driver " +
                                    f.driver_version +
                                    " does not say which CUDA it supports (libcuda.so.1 missing?)");
    } else if (!req->SatisfiedBy(cuda, driver)) {
      out.Fail(kExitCudaTooOld, "the image needs " + require_text + ", but " + have +
                                    ": upgrade the host's NVIDIA driver, or use an image built "
                                    "for an older CUDA");
    } else {
      out.Ok(have + ", which meets " + require_text);
    }
  }

  Result<std::vector<GpuInfo>> visible =
      VisibleGpus(f.gpus, env.nvidia_visible_devices, env.cuda_visible_devices);
  if (!visible.ok()) {
    out.Fail(kExitNoGpu, visible.status().message());
    return;
  }
  const size_t need = static_cast<size_t>(std::max(m.gpu_count, 1));
  std::string seen = std::to_string(visible->size()) + " of the host's " +
                     std::to_string(f.gpus.size()) + " GPUs visible";
  if (visible->size() < need) {
    std::string how = f.gpus.empty() ? "the driver sees no GPU on this host"
                                     : "give the container more GPUs (docker run --gpus all, or "
                                       "check NVIDIA_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES)";
    out.Fail(kExitNoGpu, "the model needs " + std::to_string(need) + " GPU(s), " + seen + ": " + how);
    return;
  }
  out.Ok(seen + " (needs " + std::to_string(need) + ")");

  if (m.min_gpu_memory == 0) return;
  uint64_t free_total = 0;
  std::string per_gpu;
  for (size_t i = 0; i < need; ++i) {
    const GpuInfo& g = (*visible)[i];
    free_total += g.free_bytes;
    if (!per_gpu.empty()) per_gpu += ", ";
    per_gpu += "GPU " + std::to_string(g.index) + " " + (g.name.empty() ? "" : g.name + " ") +
               GiB(g.free_bytes) + " free of " + GiB(g.total_bytes);
  }
  if (free_total < m.min_gpu_memory) {
    out.Fail(kExitGpuMemory, "the model needs " + GiB(m.min_gpu_memory) + " of free GPU memory, " +
                                 per_gpu + ": free the GPU(s) or give the container larger ones");
    return;
  }
  out.Ok("GPU memory " + GiB(free_total) + " free, needs " + GiB(m.min_gpu_memory) + " (" +
         per_gpu + ")");
}

void CheckFiles(const PreflightManifest& m, const PreflightEnv& env, unsigned threads,
                Outcome& out) {
  if (m.files.empty()) return;
  Result<VerifyMode> mode = ParseVerifyMode(env.verify.value_or("sample"));
  if (!mode.ok()) {
    out.Fail(kExitBadManifest, mode.status().message());
    return;
  }
  WeightReport report = CheckWeights(m, *mode, threads);
  uint64_t total = 0;
  for (const ManifestFile& f : m.files) total += f.size;
  for (const WeightProblem& p : report.problems) {
    const bool corrupt = p.kind == WeightProblem::Kind::kMismatch;
    out.Fail(corrupt ? kExitWeightCorrupt : kExitWeightMissing,
             "weight file " + p.path + ": " + p.detail +
                 (corrupt ? ": the image's data is damaged; pull the image again"
                          : ": the image is incomplete; pull the image again"));
  }
  if (report.problems.empty()) {
    const char* how = *mode == VerifyMode::kFull     ? "SHA-256 of every byte"
                      : *mode == VerifyMode::kSample ? "sizes and sampled SHA-256"
                                                     : "sizes";
    out.Ok(std::to_string(m.files.size()) + " weight file(s), " + GiB(total) + ": " + how +
           " match (" + std::to_string(report.bytes_hashed) + " bytes hashed)");
  }
}

}  // namespace

bool WantsGpu(const PreflightManifest& manifest, const PreflightEnv& env) {
  return manifest.gpu_count > 0 || manifest.min_gpu_memory > 0 || !RequireText(manifest, env).empty();
}

PreflightOutcome RunChecks(const PreflightManifest& manifest, const PreflightEnv& env,
                           const Result<NvidiaFacts>& nvidia, unsigned hash_threads) {
  Outcome out;
  CheckGpu(manifest, env, nvidia, out);
  CheckFiles(manifest, env, hash_threads, out);
  return out.Take();
}

}  // namespace mirrord::preflight
