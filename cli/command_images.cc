// mirrorctl images [NAME]: what the build stage has published (GET /api/v1/images,
// daemon/images_api.h), with the docker pull / docker run lines and the GPU need.
#include <algorithm>
#include <vector>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

namespace json = boost::json;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

std::string Short(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n) : s; }

// "sha256:0123456789ab" (12 hex digits, as docker prints image ids).
std::string ShortDigest(const std::string& d) {
  return d.starts_with("sha256:") ? Short(d, 7 + 12) : Short(d, 19);
}

std::string FormatEntry(const json::object& e, int64_t now) {
  std::string out = Str(e, "name");
  if (const json::value* repo = e.if_contains("repo"); repo != nullptr && repo->is_string()) {
    out += "  (from " + std::string(repo->as_string()) + ")";
  }
  if (const json::value* b = e.if_contains("build");
      b != nullptr && b->is_bool() && !b->as_bool()) {
    out += "  (no [[builds]] recipe)";
  }
  out += "\n";
  const json::value* tags = e.if_contains("tags");
  if (tags == nullptr || !tags->is_array() || tags->as_array().empty()) {
    out += "  no images yet\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"TAG", "KIND", "DIGEST", "SIZE", "COMMIT", "AGE"});
    for (const json::value& t : tags->as_array()) {
      if (!t.is_object()) continue;
      const json::object& o = t.as_object();
      rows.push_back({Str(o, "tag"), Str(o, "kind"), ShortDigest(Str(o, "digest")),
                      FormatBytes(static_cast<uint64_t>(std::max<int64_t>(0, Int(o, "size")))),
                      Short(Str(o, "commit"), 12), FormatAge(Int(o, "built_at"), now)});
    }
    std::string table = FormatTable(rows);
    for (size_t at = 0; at < table.size();) {
      size_t nl = table.find('\n', at);
      out += "  " + table.substr(at, nl - at + 1);
      at = nl + 1;
    }
  }
  if (const json::value* g = e.if_contains("gpu"); g != nullptr && g->is_object()) {
    const json::object& gpu = g->as_object();
    int64_t count = Int(gpu, "count");
    std::string need = "  needs: " + std::to_string(count) + (count == 1 ? " GPU" : " GPUs");
    if (int64_t mem = Int(gpu, "min_memory"); mem > 0) {
      need += ", " + FormatBytes(static_cast<uint64_t>(mem)) + " free GPU memory";
    }
    if (std::string cuda = Str(gpu, "require_cuda"); !cuda.empty()) {
      need += ", a driver for CUDA " + cuda;
    }
    const json::value* pf = gpu.if_contains("preflight");
    if (pf != nullptr && pf->is_bool() && pf->as_bool()) need += " (checked at start)";
    out += need + "\n";
  }
  if (std::string pull = Str(e, "pull"); !pull.empty()) out += "  " + pull + "\n";
  if (std::string run = Str(e, "run"); !run.empty()) out += "  " + run + "\n";
  return out;
}

}  // namespace

std::string FormatImages(const boost::json::value& answer, int64_t now) {
  std::string out;
  const json::value* images =
      answer.is_object() ? answer.as_object().if_contains("images") : nullptr;
  if (images == nullptr || !images->is_array() || images->as_array().empty()) {
    return "no images and no [[builds]] recipes\n";
  }
  for (const json::value& e : images->as_array()) {
    if (!e.is_object()) continue;
    if (!out.empty()) out += "\n";
    out += FormatEntry(e.as_object(), now);
  }
  return out;
}

int RunImagesCommand(ApiClient& client, const ImagesArgs& args, CommandIo& io) {
  std::string path = "/api/v1/images";
  if (!args.name.empty()) path += "/" + args.name;
  Result<ApiReply> reply = client.Get(path);
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "images", io);
  Result<boost::json::value> v = ParseJson(reply->body);
  if (!v.ok() || !v->is_object() || !v->as_object().contains("images")) {
    io.err << "mirrorctl: images: mirrord's answer has no \"images\" array\n";
    return kExitFailed;
  }
  if (io.json) return PrintJson(io, *v);
  io.out << FormatImages(*v, ToUnixSeconds(io.clock.Now()));
  return kExitOk;
}

}  // namespace mirrord
