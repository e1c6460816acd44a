// Which of the host's GPUs a container may use, by the variables NVIDIA's container runtime
// and CUDA read: NVIDIA_VISIBLE_DEVICES (unset or "all": every GPU; "none", "void" or "":
// none; else a comma list of indices or UUIDs) and then CUDA_VISIBLE_DEVICES (a comma list
// of indices into what remains, or UUIDs; "" hides every GPU; as CUDA does, the list ends at
// its first entry that names no GPU).
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "deploy/preflight/nvidia_probe.h"

namespace mirrord::preflight {

// The GPUs of `all` visible under the two variables (nullopt: unset). InvalidArgument when
// NVIDIA_VISIBLE_DEVICES names a GPU the host does not have (the runtime would refuse to
// start the container for the same reason), naming it.
Result<std::vector<GpuInfo>> VisibleGpus(const std::vector<GpuInfo>& all,
                                         const std::optional<std::string>& nvidia_visible,
                                         const std::optional<std::string>& cuda_visible);

}  // namespace mirrord::preflight
