// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/build_api.h"

#include <fnmatch.h>

#include <boost/json.hpp>
#include <ctime>

#include "common/api_json.h"
#include "daemon/admin_api.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"
#include "deploy/base_image.h"
#include "deploy/image_builder.h"
#include "deploy/image_reference.h"
#include "deploy/preflight_layers.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr std::string_view kPrefix = "/api/v1/builds/";

json::object Manifest(const BuiltManifest& m) {
  json::array tags;
  for (const std::string& t : m.tags) tags.emplace_back(t);
  json::object o;
  o["digest"] = m.digest;
  if (!m.docker_digest.empty()) o["docker_digest"] = m.docker_digest;
  o["size"] = m.size;
  o["tags"] = std::move(tags);
  return o;
}

}  // namespace

boost::asio::awaitable<void> BuildApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  if (req.method() != http::verb::post) {
    HttpResponse res = AdminErrorResponse(req, InvalidArgument("use POST"));
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "POST");
    co_await ex.Respond(std::move(res));
    co_return;
  }
  std::string name = ex.path().substr(std::min(ex.path().size(), kPrefix.size()));
  const BuildRecipe* recipe = nullptr;
  for (const BuildRecipe& r : config_.builds) {
    if (r.name == name) recipe = &r;
  }
  if (recipe == nullptr) {
    co_await ex.Respond(
        AdminErrorResponse(req, NotFound("no [[builds]] recipe is named \"" + name + "\"")));
    co_return;
  }
  std::string ref;
  if (auto it = ex.query().find("ref"); it != ex.query().end()) ref = it->second;
  Result<json::object> answer = co_await RunBlocking(blocking_, [&]() -> Result<json::object> {
    const RepoConfig* repo = nullptr;
    for (const RepoConfig& r : config_.repos) {
      if (r.name == recipe->repo) repo = &r;
    }
    if (repo == nullptr) return NotFound("repo " + recipe->repo + " is not mirrored");
    std::optional<std::filesystem::path> dir = mirror_dir_(recipe->repo);
    if (!dir) return FailedPrecondition("repo " + recipe->repo + " has not been synced yet");
    ASSIGN_OR_RETURN(RepoRecord record, catalog_.GetRepo(recipe->repo));
    std::string chosen = ref;
    if (chosen.empty()) {
      if (record.head.empty()) return FailedPrecondition("repo " + recipe->repo + " has no HEAD");
      chosen = record.head;
    }
    // Only a published ref, at its published commit: never a staging ref or a revspec.
    ASSIGN_OR_RETURN(std::vector<RefRecord> refs, catalog_.GetRefs(record.id));
    std::string commit;
    for (const RefRecord& r : refs) {
      if (r.name == chosen) commit = r.peeled.empty() ? r.oid : r.peeled;
    }
    if (commit.empty()) return NotFound(chosen + " is not a published ref of " + recipe->repo);
    if (!recipe->refs.empty()) {
      bool matched = false;
      for (const std::string& glob : recipe->refs) {
        matched = matched || ::fnmatch(glob.c_str(), chosen.c_str(), 0) == 0;
      }
      if (!matched) return InvalidArgument(chosen + " matches none of the recipe's refs");
    }
    Result<std::string> url = ResolveUpstreamUrl(config_, *repo);
    BuildInputs inputs{recipe->repo, *dir, url.ok() ? *url : "", chosen, commit, nullptr, {}};
    // The preflight bundle installed beside this binary (build/lib/... in a build tree).
    std::error_code ec;
    inputs.preflight_bundle =
        PreflightBundleBeside(std::filesystem::read_symlink("/proc/self/exe", ec));
    std::optional<PulledBase> base;
    if (recipe->base != "scratch") {
      ASSIGN_OR_RETURN(ImageReference base_ref, ParseImageReference(recipe->base));
      const RegistryConfig* registry = nullptr;
      for (const auto& [reg_name, reg] : config_.registries) {
        std::string_view host = reg.url;
        host.remove_prefix(host.find("://") + 3);
        host = host.substr(0, host.find('/'));
        if (host == base_ref.registry) registry = &reg;
      }
      ASSIGN_OR_RETURN(base, PullBaseImage(base_ref, registry, oci_));
      inputs.base = &*base;
    }
    ASSIGN_OR_RETURN(BuildOutcome out,
                     BuildImage(*recipe, inputs, {lfs_, oci_, catalog_}, std::time(nullptr)));
    json::object o;
    o["build"] = recipe->name;
    o["repo"] = recipe->repo;
    o["ref"] = chosen;
    o["commit"] = out.commit;
    o["image"] = Manifest(out.image);
    o["model"] = Manifest(out.model);
    o["layers"] = out.layers;
    o["hashed_layers"] = out.hashed_layers;
    o["merged_weights"] = out.merged_weights;
    json::array dropped;
    for (const std::string& c : out.dropped_commits) dropped.emplace_back(c);
    o["dropped_commits"] = std::move(dropped);
    return o;
  });
  if (!answer.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, answer.status()));
    co_return;
  }
  co_await ex.Respond(
      MakeResponse(req, http::status::ok, json::serialize(*answer), "application/json"));
}

}  // namespace mirrord
