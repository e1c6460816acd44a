// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/registry_read_gate.h"

#include <boost/json.hpp>
#include <ctime>

#include "common/read_token.h"
#include "common/registry_token.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace {

namespace json = boost::json;
using Presented = ReadAccess::Presented;

// The name ReadAccess decides an image by: its recipe's repo. An image no recipe names any
// more gets a name no repository can have (':' is never valid in one), so it is private and
// only a token for "**" grants it.
std::string RepoOfImage(const Config& config, const std::string& image) {
  for (const BuildRecipe& r : config.builds) {
    if (r.name == image) return r.repo;
  }
  return "image:" + image;
}

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The token endpoint's answer, as docker and containers/image read it.
HttpResponse TokenAnswer(const HttpRequest& req, const std::string& token, int64_t now) {
  json::object body;
  body["token"] = token;
  body["access_token"] = token;
  body["expires_in"] = kRegistryTokenLifetime.count();
  body["issued_at"] = Rfc3339(now);
  return MakeResponse(req, http::status::ok, json::serialize(body), "application/json");
}

struct Checked {
  Status failure;
  bool rate_limited = false;
  std::chrono::seconds retry_after{0};
  bool registry_token_valid = false;  // a Bearer registry token that verified (any subject)
  Presented presented;
  std::string repo;                      // for a request naming an image
  std::optional<ReadDecision> decision;  // idem
};

}  // namespace

HttpHandler GateRegistryReads(ReadAccess& access, const LiveConfig& config,
                              boost::asio::thread_pool& pool, const Clock& clock,
                              RegistryGateOptions options,
                              std::shared_ptr<RegistryHttpHandler> registry) {
  return [&access, &config, &pool, &clock, options = std::move(options),
          registry = std::move(registry)](HttpExchange& ex) -> boost::asio::awaitable<void> {
    const HttpRequest& req = ex.request();
    const std::string& path = ex.path();
    const std::string client = ClientKeyOfPeer(ex.peer());
    std::optional<HttpCredentials> credentials;
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      credentials = ParseAuthorization(it->value());
    }
    const int64_t now = ToUnixSeconds(clock.Now());
    const std::optional<RegistryPath> parts = SplitRegistryPath(path);
    const bool token_endpoint = path == "/v2/token";

    Checked c = co_await RunBlocking(pool, [&]() -> Checked {
      Checked out;
      if (credentials) {
        if (auto wait = access.limiter().Blocked(client)) {
          out.rate_limited = true;
          out.retry_after = *wait;
          return out;
        }
      }
      std::optional<RegistryTokenClaims> claims;
      if (credentials && credentials->scheme == HttpCredentials::Scheme::kBearer) {
        claims = VerifyRegistryToken(options.token_key, credentials->secret, now);
      }
      if (claims) {
        out.registry_token_valid = true;
        if (!claims->token_hash.empty()) {
          out.presented.sent = true;
          Result<std::optional<ReadTokenRecord>> t = access.FindByHash(claims->token_hash);
          if (!t.ok()) {
            out.failure = t.status();
            return out;
          }
          out.presented.token = std::move(*t);  // nullopt: revoked since
        }
      } else if (credentials && !(credentials->scheme == HttpCredentials::Scheme::kBearer &&
                                  credentials->secret.starts_with("mrr_"))) {
        Result<Presented> p = access.Present(credentials);
        if (!p.ok()) {
          out.failure = p.status();
          return out;
        }
        out.presented = std::move(*p);
      }
      // An expired or foreign registry token counts as no credentials: the client is sent
      // for a new one.
      if (parts) {
        out.repo = RepoOfImage(*config.Get(), parts->name);
        Result<ReadDecision> d = access.DecideFor(out.repo, out.presented, client);
        if (!d.ok()) {
          out.failure = d.status();
          return out;
        }
        out.decision = std::move(*d);
      }
      return out;
    });

    auto challenge = [&](std::string_view scope_name) {
      HttpResponse res = RegistryErrorResponse(req, http::status::unauthorized, "UNAUTHORIZED",
                                               "authentication required");
      std::string value =
          "Bearer realm=\"" + options.base_url.For(ex) + "/v2/token\",service=\"mirrord\"";
      if (!scope_name.empty()) {
        value += ",scope=\"repository:" + std::string(scope_name) + ":pull\"";
      }
      res.set(http::field::www_authenticate, value);
      return res;
    };
    auto limited = [&](std::string_view what, std::chrono::seconds wait) {
      LogAuthFailure(client, "registry", what, "too many failed authentications");
      HttpResponse res =
          RegistryErrorResponse(req, http::status::too_many_requests, "TOOMANYREQUESTS",
                                "too many failed authentications; try again later");
      res.set(http::field::retry_after, std::to_string(wait.count()));
      return res;
    };

    if (!c.repo.empty()) ex.audit().repo = c.repo;
    if (!c.failure.ok()) {
      co_return co_await ex.Respond(RegistryErrorResponse(req, HttpErrorFor(c.failure).status,
                                                          "UNKNOWN", "cannot check read access"));
    }
    if (c.rate_limited) co_return co_await ex.Respond(limited(path, c.retry_after));

    if (token_endpoint) {
      if (req.method() != http::verb::get) co_return co_await registry->Handle(ex);
      if (c.presented.sent && !c.presented.token) {
        access.limiter().RecordFailure(client);
        LogAuthFailure(client, "registry", path, "not a valid read token");
        HttpResponse res = RegistryErrorResponse(req, http::status::unauthorized, "UNAUTHORIZED",
                                                 "the credentials are not a valid read token");
        res.set(http::field::www_authenticate, "Basic realm=\"mirrord\"");
        co_return co_await ex.Respond(std::move(res));
      }
      RegistryTokenClaims claims;
      if (c.presented.token) {
        claims.token_hash = c.presented.token->token_hash;
        ex.audit().token_name = c.presented.token->name;
      }
      claims.expires_at = now + kRegistryTokenLifetime.count();
      HttpResponse res = TokenAnswer(req, IssueRegistryToken(options.token_key, claims), now);
      co_return co_await ex.Respond(std::move(res));
    }

    if (path == "/v2" || path == "/v2/") {
      const bool authenticated = c.registry_token_valid || c.presented.token.has_value();
      if (!authenticated && access.AnyPrivate()) co_return co_await ex.Respond(challenge(""));
      co_return co_await registry->Handle(ex);
    }

    if (path == "/v2/_catalog") {
      Presented presented = c.presented;
      RegistryNameFilter visible = [&access, &config, presented](const std::string& name) {
        return access.Visible(RepoOfImage(*config.Get(), name), presented);
      };
      co_return co_await registry->Handle(ex, std::move(visible));
    }

    if (!c.decision) co_return co_await registry->Handle(ex);
    switch (c.decision->kind) {
      case ReadDecision::Kind::kAllow:
        ex.audit().token_name = c.decision->token_name;
        [[fallthrough]];
      case ReadDecision::Kind::kPassThrough:
        co_return co_await registry->Handle(ex);
      case ReadDecision::Kind::kChallenge:
        co_return co_await ex.Respond(challenge(parts->name));
      case ReadDecision::Kind::kRateLimited:
        co_return co_await ex.Respond(limited(c.repo, c.decision->retry_after));
      case ReadDecision::Kind::kDeny:
        LogAuthFailure(client, "registry", c.repo, c.decision->reason);
        co_return co_await ex.Respond(RegistryErrorResponse(
            req, http::status::not_found, "NAME_UNKNOWN", "repository name not known"));
    }
  };
}

}  // namespace mirrord
