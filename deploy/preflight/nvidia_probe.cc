#include "deploy/preflight/nvidia_probe.h"

#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <string_view>

namespace mirrord::preflight {
namespace {

// NVML's ABI, as documented in nvml.h (stable across driver versions for these calls).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr nvmlReturn_t kNvmlSuccess = 0;

struct DlCloser {
  void operator()(void* handle) const { dlclose(handle); }
};
using DlHandle = std::unique_ptr<void, DlCloser>;

template <typename Fn>
Fn Symbol(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

std::string DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "unknown dlopen error";
}

// dlopen of a driver library as the image's programs would find it: first in the folders of
// $LD_LIBRARY_PATH (the preflight itself runs through its bundle's loader with
// --library-path, which makes the loader ignore that variable), then by the loader's own
// search (the bundle, ld.so.cache, the default folders). The error is the by-name one.
DlHandle OpenDriverLibrary(const char* name, std::string* error) {
  if (const char* path = std::getenv("LD_LIBRARY_PATH"); path != nullptr) {
    std::string_view rest(path);
    while (!rest.empty()) {
      size_t colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (dir.empty()) continue;
      if (void* h = dlopen((dir + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL)) return DlHandle(h);
    }
  }
  void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr && error != nullptr) *error = DlError();
  return DlHandle(h);
}

}  // namespace

Result<NvidiaFacts> ProbeNvidia() {
  std::string error;
  DlHandle nvml = OpenDriverLibrary("libnvidia-ml.so.1", &error);
  if (!nvml) return NotFound("libnvidia-ml.so.1 not loadable: " + error);

  auto init = Symbol<nvmlReturn_t (*)()>(nvml.get(), "nvmlInit_v2");
  auto shutdown = Symbol<nvmlReturn_t (*)()>(nvml.get(), "nvmlShutdown");
  auto error_string = Symbol<const char* (*)(nvmlReturn_t)>(nvml.get(), "nvmlErrorString");
  auto driver_version =
      Symbol<nvmlReturn_t (*)(char*, unsigned)>(nvml.get(), "nvmlSystemGetDriverVersion");
  auto cuda_version_nvml =
      Symbol<nvmlReturn_t (*)(int*)>(nvml.get(), "nvmlSystemGetCudaDriverVersion_v2");
  auto device_count = Symbol<nvmlReturn_t (*)(unsigned*)>(nvml.get(), "nvmlDeviceGetCount_v2");
  auto device_handle =
      Symbol<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(nvml.get(), "nvmlDeviceGetHandleByIndex_v2");
  auto memory_info =
      Symbol<nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*)>(nvml.get(), "nvmlDeviceGetMemoryInfo");
  auto device_name =
      Symbol<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(nvml.get(), "nvmlDeviceGetName");
  auto device_uuid =
      Symbol<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(nvml.get(), "nvmlDeviceGetUUID");
  if (init == nullptr || shutdown == nullptr || driver_version == nullptr ||
      device_count == nullptr || device_handle == nullptr || memory_info == nullptr) {
    return Unavailable("libnvidia-ml.so.1 lacks the NVML functions preflight needs");
  }
  auto nvml_error = [&](std::string_view what, nvmlReturn_t rc) {
    std::string text = error_string != nullptr ? error_string(rc) : "";
    return Unavailable(std::string(what) + " failed: NVML error " + std::to_string(rc) +
                       (text.empty() ? "" : " (" + text + ")"));
  };
  if (nvmlReturn_t rc = init(); rc != kNvmlSuccess) return nvml_error("nvmlInit", rc);
  struct Shutdown {
    nvmlReturn_t (*fn)();
    ~Shutdown() { fn(); }
  } shutdown_at_exit{shutdown};

  NvidiaFacts facts;
  char buf[128] = {};
  if (nvmlReturn_t rc = driver_version(buf, sizeof buf); rc != kNvmlSuccess) {
    return nvml_error("nvmlSystemGetDriverVersion", rc);
  }
  facts.driver_version = buf;

  // The CUDA version the driver supports: libcuda's answer, else NVML's.
  DlHandle cuda = OpenDriverLibrary("libcuda.so.1", nullptr);
  if (cuda) {
    auto get_version = Symbol<int (*)(int*)>(cuda.get(), "cuDriverGetVersion");
    int v = 0;
    if (get_version != nullptr && get_version(&v) == 0) facts.cuda_version = v;
  }
  if (facts.cuda_version == 0 && cuda_version_nvml != nullptr) {
    int v = 0;
    if (cuda_version_nvml(&v) == kNvmlSuccess) facts.cuda_version = v;
  }

  unsigned count = 0;
  if (nvmlReturn_t rc = device_count(&count); rc != kNvmlSuccess) {
    return nvml_error("nvmlDeviceGetCount", rc);
  }
  for (unsigned i = 0; i < count && i < 1024; ++i) {
    nvmlDevice_t dev = nullptr;
    if (nvmlReturn_t rc = device_handle(i, &dev); rc != kNvmlSuccess) {
      return nvml_error("nvmlDeviceGetHandleByIndex(" + std::to_string(i) + ")", rc);
    }
    GpuInfo gpu;
    gpu.index = i;
    nvmlMemory_t mem{};
    if (nvmlReturn_t rc = memory_info(dev, &mem); rc != kNvmlSuccess) {
      return nvml_error("nvmlDeviceGetMemoryInfo(" + std::to_string(i) + ")", rc);
    }
    gpu.total_bytes = mem.total;
    gpu.free_bytes = mem.free;
    char text[128] = {};
    if (device_name != nullptr && device_name(dev, text, sizeof text) == kNvmlSuccess) {
      gpu.name = text;
    }
    char uuid[128] = {};
    if (device_uuid != nullptr && device_uuid(dev, uuid, sizeof uuid) == kNvmlSuccess) {
      gpu.uuid = uuid;
    }
    facts.gpus.push_back(std::move(gpu));
  }
  return facts;
}

}  // namespace mirrord::preflight
