// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "daemon/verify_api.h"

#include "common/repo_name.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"

namespace mirrord {

boost::asio::awaitable<void> VerifyApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  if (req.method() != http::verb::post) {
    co_await ex.Respond(AdminMethodNotAllowed(req, "POST"));
    co_return;
  }
  std::string name;
  if (auto it = ex.query().find("repo"); it != ex.query().end()) {
    Result<std::string> valid = ValidateRepoName(it->second);
    if (!valid.ok()) {
      co_await ex.Respond(AdminErrorResponse(req, valid.status()));
      co_return;
    }
    name = std::move(*valid);
  }
  Result<VerifyOutcome> outcome =
      co_await RunBlocking(blocking_, [&] { return verify_.Verify(name); });
  if (!outcome.ok()) {
    co_await ex.Respond(AdminErrorResponse(req, outcome.status()));
    co_return;
  }
  co_await ex.Respond(
      MakeResponse(req, http::status::ok, VerifyOutcomeJson(*outcome), "application/json"));
}

}  // namespace mirrord
