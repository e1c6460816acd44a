#include "deploy/preflight_layers.h"

#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "common/file_util.h"
#include "common/log.h"
#include "common/sha256.h"
#include "deploy/preflight/preflight_manifest.h"

namespace mirrord {
namespace {

// The files make_bundle.sh puts into a bundle; a bundle without them cannot start.
constexpr const char* kRequired[] = {"bin/mirrord-preflight", "lib/ld-linux-x86-64.so.2",
                                     "lib/libc.so.6"};

Result<std::string> ReadRange(const BlobStore& lfs, const std::string& oid, uint64_t offset,
                              uint64_t length) {
  ASSIGN_OR_RETURN(UniqueFd fd, lfs.OpenObject(oid));
  std::string buf(length, '\0');
  uint64_t done = 0;
  while (done < length) {
    ssize_t n =
        ::pread(fd.get(), buf.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read LFS object " + oid);
    }
    if (n == 0) return DataLoss("LFS object " + oid + " is shorter than its size");
    done += static_cast<uint64_t>(n);
  }
  return buf;
}

}  // namespace

std::filesystem::path PreflightBundleBeside(const std::filesystem::path& binary) {
  return binary.parent_path().parent_path() / "lib" / "mirrord" / "preflight";
}

Result<std::vector<TarLayerEntry>> PreflightBundleEntries(const std::filesystem::path& bundle) {
  for (const char* f : kRequired) {
    if (!std::filesystem::is_regular_file(bundle / f)) {
      return NotFound("the preflight bundle " + bundle.string() + " lacks " + f +
                      " (build the preflight_bundle target, or set preflight = false)");
    }
  }
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(bundle, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + bundle.string());
  std::sort(files.begin(), files.end());
  const std::string prefix = std::string(kPreflightImageDir).substr(1);
  std::vector<TarLayerEntry> entries;
  for (const auto& path : files) {
    auto perms = std::filesystem::status(path).permissions();
    const bool exec = (perms & std::filesystem::perms::owner_exec) != std::filesystem::perms::none;
    ASSIGN_OR_RETURN(
        TarLayerEntry e,
        FileBackedTarEntry(prefix + "/" + std::filesystem::relative(path, bundle).string(),
                           exec ? 0755 : 0644, path, ""));
    entries.push_back(std::move(e));
  }
  return entries;
}

Result<std::string> PreflightManifestFor(const BuildRecipe& recipe,
                                         const std::vector<PreflightWeight>& weights,
                                         const BlobStore& lfs) {
  preflight::PreflightManifest m;
  if (!recipe.require_cuda.empty()) {
    // The recipe's ">=12.1" shorthand, or NVIDIA's own syntax as written.
    m.require_cuda = recipe.require_cuda.find_first_of("<>=!") == 0 ? "cuda" + recipe.require_cuda
                                                                    : recipe.require_cuda;
  }
  m.gpu_count = recipe.gpu_count;
  uint64_t total = 0;
  for (const PreflightWeight& w : weights) {
    if (w.image_path.find_first_of("\n\r") != std::string::npos) {
      return InvalidArgument(
          "weight file path with a line break cannot be listed for the "
          "preflight: " +
          PrintableExcerpt(w.image_path, 80));
    }
    m.files.push_back({w.image_path, w.size, w.oid});
    for (auto [offset, length] : preflight::SampleRanges(w.size)) {
      ASSIGN_OR_RETURN(std::string bytes, ReadRange(lfs, w.oid, offset, length));
      m.samples.push_back({m.files.size() - 1, offset, length, Sha256Hex(bytes)});
    }
    total += w.size;
  }
  m.min_gpu_memory = recipe.min_gpu_memory > 0 ? recipe.min_gpu_memory
                     : recipe.gpu_count > 0    ? preflight::DefaultMinGpuMemory(total)
                                               : 0;
  return preflight::FormatManifest(m);
}

std::vector<std::string> PreflightEntrypoint() {
  const std::string dir(kPreflightImageDir);
  return {dir + "/lib/ld-linux-x86-64.so.2", "--library-path", dir + "/lib",
          dir + "/bin/mirrord-preflight", "--"};
}

}  // namespace mirrord
