#include "deploy/preflight/visible_devices.h"

#include <charconv>
#include <string_view>

namespace mirrord::preflight {
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

// The GPU of `gpus` an entry names: an index into `gpus`, or a (prefix of a) UUID.
const GpuInfo* Find(const std::vector<GpuInfo>& gpus, const std::string& entry) {
  unsigned index = 0;
  auto [ptr, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
  if (ec == std::errc() && ptr == entry.data() + entry.size()) {
    return index < gpus.size() ? &gpus[index] : nullptr;
  }
  std::string_view want(entry);
  if (!want.starts_with("GPU-") && !want.starts_with("MIG-")) return nullptr;
  for (const GpuInfo& g : gpus) {
    if (!g.uuid.empty() && std::string_view(g.uuid).starts_with(want)) return &g;
  }
  return nullptr;
}

}  // namespace

Result<std::vector<GpuInfo>> VisibleGpus(const std::vector<GpuInfo>& all,
                                         const std::optional<std::string>& nvidia_visible,
                                         const std::optional<std::string>& cuda_visible) {
  std::vector<GpuInfo> visible;
  if (!nvidia_visible.has_value() || *nvidia_visible == "all") {
    visible = all;
  } else if (*nvidia_visible == "none" || *nvidia_visible == "void" || nvidia_visible->empty()) {
    return visible;
  } else {
    for (const std::string& entry : SplitList(*nvidia_visible)) {
      const GpuInfo* g = Find(all, entry);
      if (g == nullptr) {
        return InvalidArgument("NVIDIA_VISIBLE_DEVICES names GPU \"" + entry.substr(0, 64) +
                               "\", which this host does not have (it has " +
                               std::to_string(all.size()) + ")");
      }
      visible.push_back(*g);
    }
  }
  if (!cuda_visible.has_value()) return visible;
  std::vector<GpuInfo> used;
  for (const std::string& entry : SplitList(*cuda_visible)) {
    const GpuInfo* g = Find(visible, entry);
    if (g == nullptr) break;  // CUDA ignores the rest of the list from here
    used.push_back(*g);
  }
  return used;
}

}  // namespace mirrord::preflight
