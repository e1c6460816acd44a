/* A stand-in for the NVIDIA driver's libnvidia-ml.so.1 (our own test seam): it answers the
 * NVML calls mirrord-preflight makes from environment variables, so every preflight branch
 * can be driven without a GPU.
 *   FAKE_NVML_INIT_ERROR=N        nvmlInit_v2 returns N (e.g. 9: driver not loaded)
 *   FAKE_NVML_DRIVER=535.129.03   the driver version (default 550.54.15)
 *   FAKE_NVML_CUDA=12040          nvmlSystemGetCudaDriverVersion_v2 (default 12040)
 *   FAKE_NVML_GPUS="NAME:TOTAL_MIB:FREE_MIB;..."  the devices (default none); UUIDs are
 *                                 GPU-fake-0, GPU-fake-1, ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;

#define MAX_GPUS 16
static struct {
  char name[64];
  unsigned long long total, free;
} gpus[MAX_GPUS];
static unsigned gpu_count;

static void Load(void) {
  gpu_count = 0;
  const char* spec = getenv("FAKE_NVML_GPUS");
  if (spec == NULL) return;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", spec);
  char* save = NULL;
  for (char* item = strtok_r(buf, ";", &save); item != NULL && gpu_count < MAX_GPUS;
       item = strtok_r(NULL, ";", &save)) {
    char name[64] = {0};
    unsigned long long total = 0, free_mib = 0;
    if (sscanf(item, "%63[^:]:%llu:%llu", name, &total, &free_mib) != 3) continue;
    snprintf(gpus[gpu_count].name, sizeof gpus[gpu_count].name, "%s", name);
    gpus[gpu_count].total = total << 20;
    gpus[gpu_count].free = free_mib << 20;
    ++gpu_count;
  }
}

nvmlReturn_t nvmlInit_v2(void) {
  const char* err = getenv("FAKE_NVML_INIT_ERROR");
  if (err != NULL) return atoi(err);
  Load();
  return 0;
}
nvmlReturn_t nvmlShutdown(void) { return 0; }
const char* nvmlErrorString(nvmlReturn_t rc) { return rc == 9 ? "Driver Not Loaded" : "Unknown Error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned length) {
  const char* v = getenv("FAKE_NVML_DRIVER");
  snprintf(version, length, "%s", v != NULL ? v : "550.54.15");
  return 0;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* version) {
  const char* v = getenv("FAKE_NVML_CUDA");
  *version = v != NULL ? atoi(v) : 12040;
  return 0;
}
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) {
  *count = gpu_count;
  return 0;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
  if (index >= gpu_count) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
  *device = (nvmlDevice_t)(unsigned long)(index + 1);
  return 0;
}
static unsigned IndexOf(nvmlDevice_t d) { return (unsigned)(unsigned long)d - 1; }
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  unsigned i = IndexOf(device);
  if (i >= gpu_count) return 2;
  memory->total = gpus[i].total;
  memory->free = gpus[i].free;
  memory->used = gpus[i].total - gpus[i].free;
  return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned length) {
  unsigned i = IndexOf(device);
  if (i >= gpu_count) return 2;
  snprintf(name, length, "%s", gpus[i].name);
  return 0;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned length) {
  unsigned i = IndexOf(device);
  if (i >= gpu_count) return 2;
  snprintf(uuid, length, "GPU-fake-%u", i);
  return 0;
}
