#include "deploy/preflight/preflight_manifest.h"

#include <charconv>

namespace mirrord::preflight {
namespace {

constexpr std::string_view kMagic = "mirrord-preflight-manifest 1";

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits off the next space-separated field; the rest stays in `line`.
std::string_view NextField(std::string_view& line) {
  size_t sp = line.find(' ');
  std::string_view field = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return field;
}

}  // namespace

std::string FormatManifest(const PreflightManifest& m) {
  std::string out(kMagic);
  out += '\n';
  if (!m.require_cuda.empty()) out += "require_cuda " + m.require_cuda + "\n";
  out += "min_gpu_memory " + std::to_string(m.min_gpu_memory) + "\n";
  out += "gpu_count " + std::to_string(m.gpu_count) + "\n";
  for (const ManifestFile& f : m.files) {
    out += "file " + std::to_string(f.size) + " " + f.sha256 + " " + f.path + "\n";
  }
  for (const ManifestSample& s : m.samples) {
    out += "sample " + std::to_string(s.file_index) + " " + std::to_string(s.offset) + " " +
           std::to_string(s.length) + " " + s.sha256 + "\n";
  }
  return out;
}

Result<PreflightManifest> ParseManifest(std::string_view text) {
  PreflightManifest m;
  size_t line_no = 0;
  bool saw_magic = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    auto bad = [&](std::string_view why) {
      return InvalidArgument("preflight manifest line " + std::to_string(line_no) + ": " +
                             std::string(why));
    };
    if (!saw_magic) {
      if (line != kMagic) return bad("not a mirrord preflight manifest (or a newer version)");
      saw_magic = true;
      continue;
    }
    if (line.empty()) continue;
    std::string_view kind = NextField(line);
    if (kind == "require_cuda") {
      if (line.empty()) return bad("empty require_cuda");
      m.require_cuda = std::string(line);
    } else if (kind == "min_gpu_memory") {
      if (!ParseU64(line, &m.min_gpu_memory)) return bad("bad min_gpu_memory");
    } else if (kind == "gpu_count") {
      uint64_t n = 0;
      if (!ParseU64(line, &n) || n > 1024) return bad("bad gpu_count");
      m.gpu_count = static_cast<int>(n);
    } else if (kind == "file") {
      ManifestFile f;
      if (!ParseU64(NextField(line), &f.size)) return bad("bad file size");
      f.sha256 = std::string(NextField(line));
      if (!IsHex64(f.sha256)) return bad("bad file sha256");
      f.path = std::string(line);
      if (f.path.empty() || f.path[0] != '/') return bad("file path must be absolute");
      m.files.push_back(std::move(f));
    } else if (kind == "sample") {
      ManifestSample s;
      uint64_t index = 0;
      if (!ParseU64(NextField(line), &index)) return bad("bad sample file index");
      s.file_index = index;
      if (!ParseU64(NextField(line), &s.offset) || !ParseU64(NextField(line), &s.length)) {
        return bad("bad sample range");
      }
      s.sha256 = std::string(line);
      if (!IsHex64(s.sha256)) return bad("bad sample sha256");
      if (s.file_index >= m.files.size()) return bad("sample names a file not listed before it");
      const ManifestFile& f = m.files[s.file_index];
      if (s.length == 0 || s.offset > f.size || s.length > f.size - s.offset) {
        return bad("sample range outside its file");
      }
      m.samples.push_back(std::move(s));
    } else {
      return bad("unknown record \"" + std::string(kind).substr(0, 40) + "\"");
    }
  }
  if (!saw_magic) return InvalidArgument("preflight manifest is empty");
  return m;
}

std::vector<std::pair<uint64_t, uint64_t>> SampleRanges(uint64_t size, uint64_t length) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (size == 0 || length == 0) return out;
  if (size <= 3 * length) {
    out.emplace_back(0, size);  // small file: the whole file is one sample
    return out;
  }
  out.emplace_back(0, length);
  out.emplace_back(size / 2 - length / 2, length);
  out.emplace_back(size - length, length);
  return out;
}

uint64_t DefaultMinGpuMemory(uint64_t weight_bytes) { return weight_bytes + weight_bytes / 5; }

}  // namespace mirrord::preflight
