// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/tokens_api.h"

#include <boost/json.hpp>

#include "common/log.h"
#include "common/read_token.h"
#include "common/repo_glob.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr std::string_view kPrefix = "/api/v1/tokens";

json::object TokenJson(const ReadTokenRecord& t) {
  json::array repos;
  for (const std::string& g : t.repos) repos.emplace_back(g);
  return {{"name", t.name}, {"repos", std::move(repos)}, {"created_at", t.created_at}};
}

HttpResponse Json(const HttpRequest& req, http::status status, const json::value& v) {
  return MakeResponse(req, status, json::serialize(v) + "\n", "application/json");
}

HttpResponse NotAllowed(const HttpRequest& req, std::string_view allow) {
  HttpResponse res = AdminErrorResponse(req, InvalidArgument("method not allowed"));
  res.result(http::status::method_not_allowed);
  res.set(http::field::allow, allow);
  return res;
}

// GET's answer (built outside the coroutine: GCC 12 miscompiles braced initialisers whose
// full-expression suspends).
HttpResponse TokenList(const HttpRequest& req, const std::vector<ReadTokenRecord>& tokens) {
  json::array list;
  for (const ReadTokenRecord& t : tokens) list.push_back(TokenJson(t));
  json::object body;
  body["tokens"] = std::move(list);
  return Json(req, http::status::ok, body);
}

// The create request: {"name": "...", "repos": ["glob", ...]}.
Result<ReadTokenRecord> ParseCreate(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return InvalidArgument("expected a JSON object {\"name\", \"repos\"}");
  const json::object& o = v.as_object();
  ReadTokenRecord t;
  const json::value* name = o.if_contains("name");
  if (!name || !name->is_string()) return InvalidArgument("\"name\" must be a string");
  t.name = std::string(name->as_string());
  RETURN_IF_ERROR(ValidateReadTokenName(t.name));
  const json::value* repos = o.if_contains("repos");
  if (!repos || !repos->is_array() || repos->as_array().empty()) {
    return InvalidArgument("\"repos\" must be a non-empty array of repository globs");
  }
  if (repos->as_array().size() > kMaxTokenGlobs) {
    return InvalidArgument("at most " + std::to_string(kMaxTokenGlobs) + " globs per token");
  }
  for (const json::value& g : repos->as_array()) {
    if (!g.is_string()) return InvalidArgument("\"repos\" must hold strings");
    std::string glob(g.as_string());
    if (Status s = ValidateRepoGlob(glob); !s.ok()) {
      return InvalidArgument("\"" + glob + "\": " + s.message());
    }
    t.repos.push_back(std::move(glob));
  }
  return t;
}

}  // namespace

boost::asio::awaitable<void> TokensApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_return co_await ex.Respond(std::move(*refused));
  }
  std::string_view rest =
      std::string_view(ex.path()).substr(std::min(ex.path().size(), kPrefix.size()));
  if (rest.empty() || rest == "/") {
    if (req.method() == http::verb::post) co_return co_await Create(ex);
    if (req.method() != http::verb::get)
      co_return co_await ex.Respond(NotAllowed(req, "GET, POST"));
    auto tokens = co_await RunBlocking(blocking_, [this] { return catalog_.ListReadTokens(); });
    if (!tokens.ok()) co_return co_await ex.Respond(AdminErrorResponse(req, tokens.status()));
    HttpResponse res = TokenList(req, *tokens);
    co_return co_await ex.Respond(std::move(res));
  }
  if (rest.front() != '/') {
    co_return co_await ex.Respond(AdminErrorResponse(req, NotFound("no such endpoint")));
  }
  std::string name(rest.substr(1));
  if (Status s = ValidateReadTokenName(name); !s.ok()) {
    co_return co_await ex.Respond(AdminErrorResponse(req, s));
  }
  if (req.method() != http::verb::delete_) {
    co_return co_await ex.Respond(NotAllowed(req, "DELETE"));
  }
  Status deleted =
      co_await RunBlocking(blocking_, [this, &name] { return catalog_.DeleteReadToken(name); });
  if (!deleted.ok()) co_return co_await ex.Respond(AdminErrorResponse(req, deleted));
  MLOG(Info) << "read token " << name << " revoked by " << ex.peer();
  co_await ex.Respond(MakeResponse(req, http::status::no_content, ""));
}

boost::asio::awaitable<void> TokensApi::Create(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  Result<ReadTokenRecord> parsed = ParseCreate(req.body());
  if (!parsed.ok()) co_return co_await ex.Respond(AdminErrorResponse(req, parsed.status()));
  Result<std::string> token = GenerateReadToken();
  if (!token.ok()) co_return co_await ex.Respond(AdminErrorResponse(req, token.status()));
  ReadTokenRecord record = std::move(*parsed);
  record.token_hash = HashReadToken(*token);
  record.created_at =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  Status inserted =
      co_await RunBlocking(blocking_, [this, &record] { return catalog_.InsertReadToken(record); });
  if (!inserted.ok()) co_return co_await ex.Respond(AdminErrorResponse(req, inserted));
  MLOG(Info) << "read token " << record.name << " created by " << ex.peer();
  json::object body = TokenJson(record);
  body["token"] = *token;
  co_await ex.Respond(Json(req, http::status::created, body));
}

}  // namespace mirrord
