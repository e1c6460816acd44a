// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/repo_read_gate.h"

#include "daemon/blocking.h"
#include "daemon/lfs_http_handler.h"
#include "lfs/batch_json.h"
#include "lfs/batch_types.h"

namespace mirrord {
namespace {

HttpResponse GateResponse(const HttpRequest& req, bool lfs, http::status status,
                          std::string_view message) {
  if (lfs) {
    return MakeResponse(req, status, SerializeLfsErrorBody({std::string(message), "", ""}) + "\n",
                        kLfsMediaType);
  }
  return MakeResponse(req, status, std::string(message) + "\n");
}

}  // namespace

RepoHandler GateRepoReads(ReadAccess& access, boost::asio::thread_pool& pool, RepoHandler inner) {
  return [&access, &pool, inner = std::move(inner)](
             HttpExchange& ex, const RepoPath& repo) -> boost::asio::awaitable<void> {
    const bool lfs = LfsHttpHandler::Handles(repo);
    const std::string_view protocol = lfs ? "lfs" : "git";
    ex.audit().repo = repo.name;
    std::optional<HttpCredentials> credentials;
    if (auto it = ex.request().find(http::field::authorization); it != ex.request().end()) {
      credentials = ParseAuthorization(it->value());
    }
    const std::string client = ClientKeyOfPeer(ex.peer());
    Result<ReadDecision> decided =
        co_await RunBlocking(pool, [&] { return access.Decide(repo.name, credentials, client); });
    if (!decided.ok()) {
      co_return co_await ex.Respond(
          MakeErrorResponse(ex.request(), decided.status(), "cannot check read access\n"));
    }
    switch (decided->kind) {
      case ReadDecision::Kind::kAllow:
        ex.audit().token_name = decided->token_name;
        [[fallthrough]];
      case ReadDecision::Kind::kPassThrough:
        co_return co_await inner(ex, repo);
      case ReadDecision::Kind::kChallenge: {
        HttpResponse res =
            GateResponse(ex.request(), lfs, http::status::unauthorized, "authentication required");
        res.set(http::field::www_authenticate, kBasicChallenge);
        co_return co_await ex.Respond(std::move(res));
      }
      case ReadDecision::Kind::kRateLimited: {
        LogAuthFailure(client, protocol, repo.name, decided->reason);
        HttpResponse res = GateResponse(ex.request(), lfs, http::status::too_many_requests,
                                        "too many failed authentications; try again later");
        res.set(http::field::retry_after, std::to_string(decided->retry_after.count()));
        co_return co_await ex.Respond(std::move(res));
      }
      case ReadDecision::Kind::kDeny:
        LogAuthFailure(client, protocol, repo.name, decided->reason);
        co_return co_await ex.Respond(
            GateResponse(ex.request(), lfs, http::status::not_found, "repository not found"));
    }
  };
}

}  // namespace mirrord
