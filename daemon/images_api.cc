// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/images_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "common/api_json.h"
#include "daemon/admin_api.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"
#include "deploy/oci_json.h"
#include "deploy/preflight/preflight_manifest.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr std::string_view kPrefix = "/api/v1/images";

bool IsCommitId(std::string_view tag) {
  return tag.size() == 40 && std::all_of(tag.begin(), tag.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A GPU image: the NVIDIA runtime is asked for devices (as for the preflight's default).
bool WantsGpu(const BuildRecipe& r) {
  const std::string& d = r.nvidia_visible_devices;
  return !d.empty() && d != "none" && d != "void";
}

// The total size of the weight layers of a model artifact manifest (0 when unreadable).
uint64_t WeightBytes(const OciStore& oci, const std::string& model_digest) {
  Result<std::string> bytes = oci.Read(model_digest);
  if (!bytes.ok()) return 0;
  boost::system::error_code ec;
  json::value v = json::parse(*bytes, ec);
  if (ec || !v.is_object()) return 0;
  const json::value* layers = v.as_object().if_contains("layers");
  if (layers == nullptr || !layers->is_array()) return 0;
  uint64_t total = 0;
  for (const json::value& l : layers->as_array()) {
    if (!l.is_object()) continue;
    const json::value* type = l.as_object().if_contains("mediaType");
    const json::value* size = l.as_object().if_contains("size");
    if (type != nullptr && type->is_string() && type->as_string() == kModelWeightType &&
        size != nullptr && size->is_int64() && size->as_int64() > 0) {
      total += static_cast<uint64_t>(size->as_int64());
    }
  }
  return total;
}

// What one entry needs from the catalog and the store.
struct NameData {
  std::string name;
  std::vector<ImageRecord> tags;  // newest build first
  uint64_t weight_bytes = 0;
};

Result<NameData> LoadName(Catalog& catalog, const OciStore& oci, const std::string& name) {
  NameData d;
  d.name = name;
  ASSIGN_OR_RETURN(d.tags, catalog.ListImages(name));
  std::stable_sort(d.tags.begin(), d.tags.end(), [](const ImageRecord& a, const ImageRecord& b) {
    return a.built_at > b.built_at;
  });
  for (const ImageRecord& r : d.tags) {
    if (r.kind == "model") {
      d.weight_bytes = WeightBytes(oci, r.digest);
      break;
    }
  }
  return d;
}

json::object Entry(const NameData& d, const BuildRecipe* recipe, std::string_view registry) {
  json::object o;
  o["name"] = d.name;
  o["build"] = recipe != nullptr;
  o["repo"] = recipe != nullptr ? json::value(recipe->repo) : json::value(nullptr);
  json::array ports;
  if (recipe != nullptr) {
    for (const std::string& p : recipe->ports) {
      ports.emplace_back(p.find('/') == std::string::npos ? p + "/tcp" : p);
    }
  }
  o["ports"] = std::move(ports);
  if (recipe != nullptr && WantsGpu(*recipe)) {
    json::object gpu;
    gpu["count"] = recipe->gpu_count;
    gpu["min_memory"] = GpuMemoryNeed(*recipe, d.weight_bytes);
    gpu["require_cuda"] = recipe->require_cuda;
    gpu["preflight"] = recipe->PreflightEnabled();
    o["gpu"] = std::move(gpu);
    o["shm_size"] = recipe->shm_size;
  } else {
    o["gpu"] = nullptr;
    o["shm_size"] = "";
  }
  // The tag the usage lines name: the newest image tag that is not a bare commit id.
  const ImageRecord* shown = nullptr;
  for (const ImageRecord& r : d.tags) {
    if (r.kind != "image") continue;
    if (shown != nullptr && r.built_at != shown->built_at) break;  // only the newest build
    if (shown == nullptr || (IsCommitId(shown->tag) && !IsCommitId(r.tag))) shown = &r;
  }
  if (shown != nullptr) {
    ImageUsage usage = ImageUsageFor(registry, d.name, shown->tag, recipe);
    o["pull"] = usage.pull;
    o["run"] = usage.run.empty() ? json::value(nullptr) : json::value(usage.run);
  } else {
    o["pull"] = nullptr;
    o["run"] = nullptr;
  }
  json::array tags;
  for (const ImageRecord& r : d.tags) {
    json::object t;
    t["tag"] = r.tag;
    t["kind"] = r.kind;
    t["digest"] = r.digest;
    t["docker_digest"] = r.docker_digest;
    t["size"] = r.size;
    t["ref"] = r.ref;
    t["commit"] = r.commit;
    t["created_at"] = r.created_at;
    t["built_at"] = r.built_at;
    tags.push_back(std::move(t));
  }
  o["tags"] = std::move(tags);
  return o;
}

}  // namespace

uint64_t GpuMemoryNeed(const BuildRecipe& recipe, uint64_t weight_bytes) {
  if (recipe.min_gpu_memory > 0) return recipe.min_gpu_memory;
  return recipe.gpu_count > 0 ? preflight::DefaultMinGpuMemory(weight_bytes) : 0;
}

ImageUsage ImageUsageFor(std::string_view registry, std::string_view name, std::string_view tag,
                         const BuildRecipe* recipe) {
  const std::string ref = std::string(registry) + "/" + std::string(name) + ":" + std::string(tag);
  ImageUsage u;
  u.pull = "docker pull " + ref;
  if (recipe == nullptr) return u;
  u.run = "docker run --rm";
  if (WantsGpu(*recipe)) {
    u.run += " --gpus all";
    if (!recipe->shm_size.empty()) u.run += " --shm-size " + recipe->shm_size;
  }
  for (const std::string& p : recipe->ports) {
    std::string_view port = p;
    std::string_view proto = "tcp";
    if (size_t slash = port.find('/'); slash != std::string_view::npos) {
      proto = port.substr(slash + 1);
      port = port.substr(0, slash);
    }
    u.run += " -p " + std::string(port) + ":" + std::string(port);
    if (proto != "tcp") u.run += "/" + std::string(proto);
  }
  u.run += " " + ref;
  return u;
}

boost::asio::awaitable<void> ImagesApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  if (req.method() != http::verb::get) {
    HttpResponse res = AdminErrorResponse(req, InvalidArgument("use GET"));
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET");
    co_await ex.Respond(std::move(res));
    co_return;
  }
  std::string_view rest =
      std::string_view(ex.path()).substr(std::min(ex.path().size(), kPrefix.size()));
  if (!rest.empty() && rest.front() != '/') {
    co_await ex.Respond(AdminErrorResponse(req, NotFound("no such endpoint")));
    co_return;
  }
  std::string only = rest.empty() ? "" : std::string(rest.substr(1));
  std::string base = base_url_.For(ex);
  std::string registry =
      base.substr(base.find("://") == std::string::npos ? 0 : base.find("://") + 3);
  registry = registry.substr(0, registry.find('/'));
  Result<json::array> entries = co_await RunBlocking(blocking_, [&]() -> Result<json::array> {
    std::map<std::string, const BuildRecipe*> recipes;
    for (const BuildRecipe& r : config_.builds) recipes[r.name] = &r;
    std::vector<std::string> names;
    if (!only.empty()) {
      names.push_back(only);
    } else {
      ASSIGN_OR_RETURN(names, catalog_.ListImageNames());
      for (const auto& [name, r] : recipes) names.push_back(name);
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
    }
    json::array out;
    for (const std::string& name : names) {
      ASSIGN_OR_RETURN(NameData d, LoadName(catalog_, oci_, name));
      auto it = recipes.find(name);
      const BuildRecipe* recipe = it == recipes.end() ? nullptr : it->second;
      if (recipe == nullptr && d.tags.empty()) {
        return NotFound("\"" + name + "\" is neither a [[builds]] name nor an image repository");
      }
      out.push_back(Entry(d, recipe, registry));
    }
    return out;
  });
  if (!entries.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, entries.status()));
    co_return;
  }
  json::object body;
  body["registry"] = registry;
  body["images"] = std::move(*entries);
  co_await ex.Respond(
      MakeResponse(req, http::status::ok, json::serialize(body), "application/json"));
}

}  // namespace mirrord
