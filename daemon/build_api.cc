// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/build_api.h"

#include <boost/json.hpp>
#include <charconv>

#include "common/api_json.h"
#include "daemon/admin_api.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr std::string_view kPrefix = "/api/v1/builds/";
constexpr std::string_view kRuns = "/runs/";

}  // namespace

boost::asio::awaitable<void> BuildApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  std::string rest = ex.path().substr(std::min(ex.path().size(), kPrefix.size()));
  // <name>/runs/<id>: build names never hold "/runs/" followed by digits only at their end
  // (a run id is all digits; a name component is not).
  if (size_t at = rest.rfind(kRuns); at != std::string::npos) {
    std::string id = rest.substr(at + kRuns.size());
    if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos) {
      if (req.method() != http::verb::get) {
        HttpResponse res = AdminErrorResponse(req, InvalidArgument("use GET"));
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET");
        co_await ex.Respond(std::move(res));
        co_return;
      }
      co_await GetRun(ex, rest.substr(0, at), std::move(id));
      co_return;
    }
  }
  if (req.method() != http::verb::post) {
    HttpResponse res = AdminErrorResponse(req, InvalidArgument("use POST"));
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "POST");
    co_await ex.Respond(std::move(res));
    co_return;
  }
  co_await Queue(ex, std::move(rest));
}

boost::asio::awaitable<void> BuildApi::Queue(HttpExchange& ex, std::string name) {
  const HttpRequest& req = ex.request();
  std::string ref;
  if (auto it = ex.query().find("ref"); it != ex.query().end()) ref = it->second;
  Result<QueuedBuild> queued = co_await RunBlocking(
      blocking_, [&] { return jobs_.Request(name, ref, "manual", JobPriority::kManual, 0); });
  if (!queued.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, queued.status()));
    co_return;
  }
  json::object o;
  o["run_id"] = queued->run_id;
  o["build"] = queued->build;
  o["repo"] = queued->repo;
  o["ref"] = queued->ref;
  o["commit"] = queued->commit;
  o["coalesced"] = queued->coalesced;
  HttpResponse res =
      MakeResponse(req, http::status::accepted, json::serialize(o), "application/json");
  res.set(http::field::location, std::string(kPrefix) + queued->build + std::string(kRuns) +
                                     std::to_string(queued->run_id));
  co_await ex.Respond(std::move(res));
}

boost::asio::awaitable<void> BuildApi::GetRun(HttpExchange& ex, std::string name,
                                              std::string id_text) {
  const HttpRequest& req = ex.request();
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || ptr != id_text.data() + id_text.size()) {
    co_await ex.Respond(AdminErrorResponse(req, NotFound("no build run " + id_text.substr(0, 20))));
    co_return;
  }
  Result<BuildRunView> view = co_await RunBlocking(blocking_, [&] { return runner_.View(id); });
  if (view.ok() && view->build != name) {
    view = NotFound("run " + std::to_string(id) + " is not a run of build " + name);
  }
  if (!view.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, view.status()));
    co_return;
  }
  co_await ex.Respond(MakeResponse(req, http::status::ok, json::serialize(json::value_from(*view)),
                                   "application/json"));
}

}  // namespace mirrord
