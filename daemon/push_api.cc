// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/push_api.h"

#include <boost/json.hpp>
#include <charconv>

#include "common/api_json.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr std::string_view kImagesPrefix = "/api/v1/images/";
constexpr std::string_view kPushSuffix = "/push";
constexpr std::string_view kPushes = "/api/v1/pushes";

HttpResponse MethodNotAllowed(const HttpRequest& req, std::string_view allow) {
  HttpResponse res = AdminErrorResponse(req, InvalidArgument("use " + std::string(allow)));
  res.result(http::status::method_not_allowed);
  res.set(http::field::allow, std::string(allow));
  return res;
}

// "<name>:<tag>" of an image push path; the tag is after the last ':' (names hold none).
bool SplitImageRef(std::string_view path, std::string* name, std::string* tag) {
  if (!path.starts_with(kImagesPrefix) || !path.ends_with(kPushSuffix)) return false;
  std::string_view ref = path.substr(kImagesPrefix.size());
  ref.remove_suffix(kPushSuffix.size());
  const size_t colon = ref.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == ref.size()) return false;
  *name = std::string(ref.substr(0, colon));
  *tag = std::string(ref.substr(colon + 1));
  return true;
}

Result<int64_t> ParseId(std::string_view text, std::string_view what) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) {
    return InvalidArgument(std::string(what) + " must be a non-negative integer");
  }
  return v;
}

}  // namespace

bool IsImagePushPath(std::string_view path) {
  std::string name, tag;
  return SplitImageRef(path, &name, &tag);
}

boost::asio::awaitable<void> PushApi::HandleImagePush(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  if (req.method() != http::verb::post) {
    co_await ex.Respond(MethodNotAllowed(req, "POST"));
    co_return;
  }
  std::string name, tag;
  if (!SplitImageRef(ex.path(), &name, &tag)) {
    co_await ex.Respond(AdminErrorResponse(req, NotFound("expected /api/v1/images/NAME:TAG/push")));
    co_return;
  }
  std::string registry;
  {
    Result<json::value> body = ParseJson(req.body());
    const json::object* o = body.ok() ? body->if_object() : nullptr;
    const json::value* r = o != nullptr ? o->if_contains("registry") : nullptr;
    if (r == nullptr || !r->is_string() || r->as_string().empty()) {
      co_await ex.Respond(AdminErrorResponse(
          req, InvalidArgument("expected a JSON body {\"registry\": \"NAME\"}")));
      co_return;
    }
    registry = std::string(r->as_string());
  }
  Result<QueuedPush> queued = co_await RunBlocking(blocking_, [&] {
    return jobs_.Request(name, tag, registry, "manual", JobPriority::kManual);
  });
  if (!queued.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, queued.status()));
    co_return;
  }
  json::array tags;
  for (const std::string& t : queued->tags) tags.emplace_back(t);
  json::object o;
  o["run_id"] = queued->run_id;
  o["image"] = queued->image;
  o["digest"] = queued->digest;
  o["registry"] = queued->registry;
  o["repository"] = queued->repository;
  o["tags"] = std::move(tags);
  o["coalesced"] = queued->coalesced;
  HttpResponse res =
      MakeResponse(req, http::status::accepted, json::serialize(o), "application/json");
  res.set(http::field::location, std::string(kPushes) + "/" + std::to_string(queued->run_id));
  co_await ex.Respond(std::move(res));
}

boost::asio::awaitable<void> PushApi::HandleRuns(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  if (req.method() != http::verb::get) {
    co_await ex.Respond(MethodNotAllowed(req, "GET"));
    co_return;
  }
  std::string_view rest = std::string_view(ex.path()).substr(kPushes.size());
  if (!rest.empty()) {
    if (rest.front() != '/') {
      co_await ex.Respond(AdminErrorResponse(req, NotFound("no such endpoint")));
      co_return;
    }
    Result<int64_t> id = ParseId(rest.substr(1), "the run id");
    if (!id.ok()) {
      co_await ex.Respond(
          AdminErrorResponse(req, NotFound("no push run " + std::string(rest.substr(1, 20)))));
      co_return;
    }
    Result<PushRunView> view = co_await RunBlocking(blocking_, [&] { return runner_.View(*id); });
    if (!view.ok()) {
      co_await ex.Respond(AdminErrorResponse(req, view.status()));
      co_return;
    }
    co_await ex.Respond(MakeResponse(req, http::status::ok,
                                     json::serialize(json::value_from(*view)), "application/json"));
    co_return;
  }
  std::string image;
  if (auto it = ex.query().find("image"); it != ex.query().end()) image = it->second;
  int64_t limit = 100;
  if (auto it = ex.query().find("limit"); it != ex.query().end()) {
    Result<int64_t> n = ParseId(it->second, "limit");
    if (!n.ok() || *n < 1 || *n > 1000) {
      co_await ex.Respond(
          AdminErrorResponse(req, InvalidArgument("limit must be between 1 and 1000")));
      co_return;
    }
    limit = *n;
  }
  Result<json::array> runs = co_await RunBlocking(blocking_, [&]() -> Result<json::array> {
    ASSIGN_OR_RETURN(std::vector<PushRunRecord> records,
                     catalog_.ListPushRuns(image, static_cast<size_t>(limit)));
    json::array out;
    for (const PushRunRecord& r : records) {
      // Live progress for the ones running here.
      Result<PushRunView> v = runner_.View(r.run_id);
      out.push_back(json::value_from(v.ok() ? *v : PushRunViewOf(r)));
    }
    return out;
  });
  if (!runs.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, runs.status()));
    co_return;
  }
  json::object body;
  body["pushes"] = std::move(*runs);
  co_await ex.Respond(
      MakeResponse(req, http::status::ok, json::serialize(body), "application/json"));
}

}  // namespace mirrord
