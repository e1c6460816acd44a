// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_read_gate.h"

#include "daemon/blocking.h"

namespace mirrord {

namespace {

// 429 in the Hub's error shape (outside the coroutine: GCC 12 and braced initialisers).
HttpResponse RateLimitedAnswer(const HttpRequest& req, std::chrono::seconds retry_after) {
  HfFailure f;
  f.status = http::status::too_many_requests;
  f.message = "too many failed authentications; try again later";
  HttpResponse res = HfErrorResponse(req, f);
  res.set(http::field::retry_after, std::to_string(retry_after.count()));
  return res;
}

}  // namespace

HfGateTarget HfResolveGateTarget() {
  return {[](std::string_view raw) -> std::optional<std::pair<HfRepoType, std::string>> {
            Result<HfResolveTarget> t = ParseHfResolveTarget(raw);
            if (!t.ok()) return std::nullopt;
            return std::make_pair(t->type, t->repo_id);
          },
          // What OpenHfRevision (daemon/hf_revision.cc) answers for an unknown id.
          [](const std::string& repo_id) {
            return HfFailure::RepoNotFound("Repository Not Found for " + repo_id);
          }};
}

HfGateTarget HfApiGateTarget() {
  return {[](std::string_view raw) -> std::optional<std::pair<HfRepoType, std::string>> {
            Result<HfApiTarget> t = ParseHfApiTarget(raw);
            if (!t.ok()) return std::nullopt;
            return std::make_pair(t->type, t->repo_id);
          },
          // What HfApiHandler answers for an unknown id.
          [](const std::string&) { return HfFailure::RepoNotFound("Repository Not Found"); }};
}

HttpHandler GateHfReads(ReadAccess& access, HfRepoLocator& locator, boost::asio::thread_pool& pool,
                        HfGateTarget target, HttpHandler inner) {
  return [&access, &locator, &pool, target = std::move(target),
          inner = std::move(inner)](HttpExchange& ex) -> boost::asio::awaitable<void> {
    const HttpRequest& req = ex.request();
    std::optional<std::pair<HfRepoType, std::string>> parsed = target.parse(req.target());
    if (!parsed) co_return co_await inner(ex);
    std::optional<HttpCredentials> credentials;
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      credentials = ParseAuthorization(it->value());
    }
    const std::string client = ClientKeyOfPeer(ex.peer());
    struct Checked {
      std::string name;
      Result<ReadDecision> decision;
    };
    Checked checked = co_await RunBlocking(pool, [&]() -> Checked {
      // An id no repo answers to is decided as the name it would have: absent, so alike
      // a private repo's.
      std::string name = parsed->second;
      if (Result<HfRepo> found = locator.Find(parsed->first, parsed->second); found.ok()) {
        name = found->record.name;
      } else if (found.status().code() != StatusCode::kNotFound) {
        return {name, found.status()};
      }
      return {name, access.Decide(name, credentials, client)};
    });
    ex.audit().repo = checked.name;
    if (!checked.decision.ok()) {
      co_return co_await ex.Respond(
          HfErrorResponse(req, HfFailure::Internal("cannot check read access")));
    }
    const ReadDecision& d = *checked.decision;
    switch (d.kind) {
      case ReadDecision::Kind::kAllow:
        ex.audit().token_name = d.token_name;
        [[fallthrough]];
      case ReadDecision::Kind::kPassThrough:
        co_return co_await inner(ex);
      case ReadDecision::Kind::kRateLimited: {
        LogAuthFailure(client, "hf", checked.name, d.reason);
        HttpResponse res = RateLimitedAnswer(req, d.retry_after);
        co_return co_await ex.Respond(std::move(res));
      }
      case ReadDecision::Kind::kDeny:
        LogAuthFailure(client, "hf", checked.name, d.reason);
        [[fallthrough]];
      case ReadDecision::Kind::kChallenge:
        co_return co_await ex.Respond(HfErrorResponse(req, target.absent(parsed->second)));
    }
  };
}

}  // namespace mirrord
