/* A stand-in for the NVIDIA driver's libcuda.so.1 (our own test seam):
 *   FAKE_CUDA_VERSION=12020   what cuDriverGetVersion reports (default: NVML's answer is used,
 *                             because then this library reports failure) */
#include <stdlib.h>

int cuDriverGetVersion(int* version) {
  const char* v = getenv("FAKE_CUDA_VERSION");
  if (v == NULL) return 3; /* CUDA_ERROR_NOT_INITIALIZED */
  *version = atoi(v);
  return 0;
}
