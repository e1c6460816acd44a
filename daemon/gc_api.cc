// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/gc_api.h"

#include "common/config.h"
#include "common/repo_name.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace {

// "1", "true" (any other value or absence: false).
bool QueryFlag(const HttpExchange& ex, const std::string& key) {
  auto it = ex.query().find(key);
  return it != ex.query().end() && (it->second == "1" || it->second == "true");
}

}  // namespace

boost::asio::awaitable<void> GcApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  std::string_view path = ex.path();
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const bool purge = path == "/api/v1/gc/purge";
  if (!purge && path != "/api/v1/gc") {
    co_await ex.Respond(
        AdminErrorResponse(req, NotFound("no such admin API endpoint: " + std::string(path))));
    co_return;
  }
  if (req.method() != http::verb::post) {
    co_await ex.Respond(AdminMethodNotAllowed(req, "POST"));
    co_return;
  }
  Result<GcOutcome> outcome = InvalidArgument("no request");
  if (purge) {
    auto it = ex.query().find("repo");
    Result<std::string> name = it == ex.query().end()
                                   ? Result<std::string>(InvalidArgument("?repo=NAME is required"))
                                   : ValidateRepoName(it->second);
    if (!name.ok()) {
      co_await ex.Respond(AdminErrorResponse(req, name.status()));
      co_return;
    }
    outcome = co_await RunBlocking(blocking_, [&] { return gc_.Purge(*name); });
  } else {
    GcRequest request;
    request.dry_run = QueryFlag(ex, "dry_run");
    if (auto it = ex.query().find("grace"); it != ex.query().end()) {
      Result<std::chrono::seconds> grace = ParseDurationOrZero(it->second);
      if (!grace.ok()) {
        co_await ex.Respond(AdminErrorResponse(req, grace.status().WithContext("grace")));
        co_return;
      }
      request.grace = *grace;
    }
    outcome = co_await RunBlocking(blocking_, [&] { return gc_.Run(request); });
  }
  if (!outcome.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, outcome.status()));
    co_return;
  }
  co_await ex.Respond(
      MakeResponse(req, http::status::ok, GcOutcomeJson(*outcome), "application/json"));
}

}  // namespace mirrord
