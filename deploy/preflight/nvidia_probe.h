// NvidiaProbe: what the host's NVIDIA driver says about itself and its GPUs, read at run
// time through the driver's own libraries, loaded with dlopen so that mirrord-preflight
// needs nothing but the C library in the image: libnvidia-ml.so.1 (NVML: driver version,
// devices, memory) and libcuda.so.1 (cuDriverGetVersion: the CUDA version the driver
// supports; NVML's nvmlSystemGetCudaDriverVersion when libcuda is absent). The container
// runtime injects both into a GPU container; the folders of $LD_LIBRARY_PATH, then the
// dynamic loader's own search decide which copy is loaded, which is how tests substitute
// fakes.
// Thread-safety: ProbeNvidia may be called from one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace mirrord::preflight {

struct GpuInfo {
  unsigned index = 0;       // NVML's index on this host
  std::string uuid;         // "GPU-..."
  std::string name;         // "NVIDIA H100 80GB HBM3"
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
};

struct NvidiaFacts {
  std::string driver_version;  // "580.65.06"
  int cuda_version = 0;        // 1000 * major + 10 * minor, e.g. 12040
  std::vector<GpuInfo> gpus;   // every device NVML reports, in NVML's order
};

// Loads the driver libraries and reads the facts. NotFound when libnvidia-ml.so.1 cannot be
// loaded (no driver in this container: the message says what dlopen said); Unavailable
// when NVML loads but fails to initialise or to answer (its error string included).
Result<NvidiaFacts> ProbeNvidia();

}  // namespace mirrord::preflight
