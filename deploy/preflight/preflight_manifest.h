// PreflightManifest: what the build stage knows about an image and writes into it for
// mirrord-preflight to check at container start: the weight files with their sizes and
// SHA-256, sampled ranges for the quick check, the CUDA requirement and the GPU need.
//
// Text format, one record per line, fields separated by one space (paths last, so they may
// contain spaces; a path never contains a newline — the build refuses such trees):
//   mirrord-preflight-manifest 1
//   require_cuda cuda>=12.1            (optional; the NVIDIA_REQUIRE_CUDA syntax)
//   min_gpu_memory 17179869184         (bytes of free GPU memory needed in all; 0: no check)
//   gpu_count 1                        (GPUs the model needs; 0: no GPU needed)
//   file SIZE SHA256 PATH              (absolute path inside the image)
//   sample FILE_INDEX OFFSET LENGTH SHA256   (a range of the FILE_INDEX-th file line, 0-based)
// Unknown record kinds are errors (a newer build stage needs a newer preflight).
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord::preflight {

struct ManifestFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // 64 lowercase hex digits
};

struct ManifestSample {
  size_t file_index = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string sha256;
};

struct PreflightManifest {
  std::string require_cuda;     // empty: none
  uint64_t min_gpu_memory = 0;  // bytes, summed over the GPUs used
  int gpu_count = 0;
  std::vector<ManifestFile> files;
  std::vector<ManifestSample> samples;
};

// The manifest as text (the format above). Same manifest, same bytes.
std::string FormatManifest(const PreflightManifest& manifest);

// Parses the text. InvalidArgument naming the line for anything malformed (bad numbers,
// hashes that are not 64 lowercase hex digits, a sample outside its file, relative paths).
Result<PreflightManifest> ParseManifest(std::string_view text);

// The ranges the build stage samples in a file of `size` bytes: up to three ranges of at
// most `length` bytes (start, middle, end), fewer for small files, never overlapping.
std::vector<std::pair<uint64_t, uint64_t>> SampleRanges(uint64_t size, uint64_t length = 1 << 20);

// The minimum free GPU memory for weights of `weight_bytes` in all: weights plus 20% for
// activations, KV cache and the CUDA context (a floor a real run needs; a recipe's
// `min_gpu_memory` overrides it).
uint64_t DefaultMinGpuMemory(uint64_t weight_bytes);

}  // namespace mirrord::preflight
