// GCC 12 reports a false -Wmismatched-new-delete on every Asio coroutine frame (GCC PR
// 109224); the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/admin_api.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <charconv>
#include <utility>
#include <vector>

#include "common/admin_token.h"
#include "common/api_json.h"
#include "common/log.h"
#include "common/repo_name.h"
#include "daemon/blocking.h"

namespace mirrord {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

constexpr std::string_view kPrefix = "/api/v1";
constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kNdjsonType = "application/x-ndjson";

HttpResponse JsonResponse(const HttpRequest& req, http::status status, const json::value& v) {
  return MakeResponse(req, status, json::serialize(v), kJsonType);
}

HttpResponse ErrorResponse(const HttpRequest& req, http::status status, std::string_view code,
                           std::string message) {
  json::object body{{"error", json::object{{"code", code}, {"message", std::move(message)}}}};
  return JsonResponse(req, status, body);
}

HttpResponse ErrorResponse(const HttpRequest& req, const Status& s) {
  return MakeResponse(req, HttpStatusFor(s.code()), ErrorJson(s), kJsonType);
}

HttpResponse MethodNotAllowed(const HttpRequest& req, std::string_view allow) {
  HttpResponse res = ErrorResponse(
      req, http::status::method_not_allowed, "MethodNotAllowed",
      std::string(req.method_string()) + " is not allowed here; allowed: " + std::string(allow));
  res.set(http::field::allow, allow);
  return res;
}

// The value of the `follow` query parameter: absent, "0" or "false" -> false; "1" or
// "true" -> true; anything else is a client error.
Result<bool> FollowParam(const std::map<std::string, std::string>& query) {
  auto it = query.find("follow");
  if (it == query.end() || it->second == "0" || it->second == "false") return false;
  if (it->second == "1" || it->second == "true" || it->second.empty()) return true;
  return InvalidArgument("follow must be 1 or 0, got \"" + it->second + "\"");
}

}  // namespace

http::status HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return http::status::ok;
    case StatusCode::kInvalidArgument:
      return http::status::bad_request;
    case StatusCode::kNotFound:
      return http::status::not_found;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return http::status::conflict;
    case StatusCode::kPermissionDenied:
      return http::status::forbidden;
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      return http::status::service_unavailable;
    default:
      return http::status::internal_server_error;
  }
}

AdminApi::AdminApi(SyncService& service, asio::thread_pool& blocking_pool, std::string admin_token,
                   AdminApiOptions options)
    : service_(service),
      pool_(blocking_pool),
      admin_token_(std::move(admin_token)),
      options_(options) {}

asio::awaitable<void> AdminApi::Handle(HttpExchange& exchange) {
  const HttpRequest& req = exchange.request();
  auto auth = req.find(http::field::authorization);
  std::string_view token;
  if (auth == req.end() || !ParseBearerToken(auth->value(), &token)) {
    HttpResponse res = ErrorResponse(req, http::status::unauthorized, "Unauthenticated",
                                     "this API needs an \"Authorization: Bearer <token>\" header");
    res.set(http::field::www_authenticate, "Bearer realm=\"mirrord\"");
    co_await exchange.Respond(std::move(res));
    co_return;
  }
  // An unset admin token must never turn into "any empty token is fine".
  const std::shared_ptr<const std::string> admin_token = admin_token_.Get();
  if (admin_token->empty() || !SecretsEqual(token, *admin_token)) {
    MLOG(Warning) << "admin API: rejected " << req.method_string() << " " << exchange.path()
                  << " from " << exchange.peer() << ": wrong bearer token";
    HttpResponse res = ErrorResponse(req, http::status::unauthorized, "Unauthenticated",
                                     "the bearer token is not valid");
    res.set(http::field::www_authenticate, "Bearer realm=\"mirrord\", error=\"invalid_token\"");
    co_await exchange.Respond(std::move(res));
    co_return;
  }

  std::string_view path = exchange.path();
  if (path.substr(0, kPrefix.size()) == kPrefix &&
      (path.size() == kPrefix.size() || path[kPrefix.size()] == '/')) {
    path.remove_prefix(kPrefix.size());
  }
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  co_await Route(exchange, path);
}

asio::awaitable<void> AdminApi::Route(HttpExchange& exchange, std::string_view path) {
  const HttpRequest& req = exchange.request();
  const http::verb method = req.method();
  constexpr std::string_view kRepos = "/repos";
  constexpr std::string_view kRuns = "/runs/";

  if (path == kRepos) {
    if (method == http::verb::get) co_return co_await ListRepos(exchange);
    if (method == http::verb::post) co_return co_await CreateRepo(exchange);
    co_return co_await exchange.Respond(MethodNotAllowed(req, "GET, POST"));
  }

  if (path.substr(0, kRepos.size() + 1) == "/repos/") {
    std::string_view rest = path.substr(kRepos.size() + 1);
    size_t colon = rest.find(':');
    std::string_view name_text = rest.substr(0, colon);
    std::string_view verb =
        colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (colon != std::string_view::npos && verb != "sync") {
      co_return co_await exchange.Respond(
          ErrorResponse(req, http::status::not_found, "NotFound",
                        "unknown action \":" + std::string(verb) + "\" (known: \":sync\")"));
    }
    Result<std::string> name = ValidateRepoName(name_text);
    if (!name.ok()) co_return co_await exchange.Respond(ErrorResponse(req, name.error()));
    if (colon != std::string_view::npos) {
      if (method == http::verb::post) co_return co_await SyncRepo(exchange, std::move(*name));
      co_return co_await exchange.Respond(MethodNotAllowed(req, "POST"));
    }
    if (method == http::verb::get) co_return co_await GetRepo(exchange, std::move(*name));
    if (method == http::verb::delete_) co_return co_await DeleteRepo(exchange, std::move(*name));
    co_return co_await exchange.Respond(MethodNotAllowed(req, "GET, DELETE"));
  }

  if (path == "/queue") {
    if (method == http::verb::get) co_return co_await GetQueue(exchange);
    co_return co_await exchange.Respond(MethodNotAllowed(req, "GET"));
  }

  if (path.substr(0, kRuns.size()) == kRuns) {
    if (method == http::verb::get) co_return co_await GetRun(exchange, path.substr(kRuns.size()));
    co_return co_await exchange.Respond(MethodNotAllowed(req, "GET"));
  }

  co_await exchange.Respond(ErrorResponse(req, http::status::not_found, "NotFound",
                                          "no such admin API endpoint: " + std::string(path)));
}

asio::awaitable<void> AdminApi::GetQueue(HttpExchange& exchange) {
  auto queue = co_await RunBlocking(pool_, [this] { return service_.GetQueue(); });
  if (!queue.ok()) {
    co_return co_await exchange.Respond(ErrorResponse(exchange.request(), queue.error()));
  }
  co_await exchange.Respond(
      JsonResponse(exchange.request(), http::status::ok, json::value_from(*queue)));
}

asio::awaitable<void> AdminApi::ListRepos(HttpExchange& exchange) {
  auto repos = co_await RunBlocking(pool_, [this] { return service_.ListRepos(); });
  if (!repos.ok())
    co_return co_await exchange.Respond(ErrorResponse(exchange.request(), repos.error()));
  json::array list;
  list.reserve(repos->size());
  for (const RepoStatus& r : *repos) list.push_back(json::value_from(r));
  json::object body;
  body["repos"] = std::move(list);
  co_await exchange.Respond(JsonResponse(exchange.request(), http::status::ok, body));
}

asio::awaitable<void> AdminApi::CreateRepo(HttpExchange& exchange) {
  const HttpRequest& req = exchange.request();
  auto bad = [&](std::string message) {
    return exchange.Respond(ErrorResponse(req, InvalidArgument(std::move(message))));
  };
  Result<json::value> body = ParseJson(req.body());
  if (!body.ok()) co_return co_await bad("request body: " + body.error().message());
  if (!body->is_object()) co_return co_await bad("request body: expected a JSON object");
  for (const auto& member : body->get_object()) {
    std::string_view key = member.key();
    if (key != "name" && key != "upstream" && key != "path" && key != "url") {
      co_return co_await bad("request body: unknown field \"" + std::string(key) +
                             "\" (known: name, upstream, path, url)");
    }
  }
  Result<RepoSpec> spec = RepoSpecFromJson(*body);
  if (!spec.ok()) co_return co_await bad("request body: " + spec.error().message());
  if (spec->name.empty()) co_return co_await bad("request body: \"name\" is required");
  Result<std::string> name = ValidateRepoName(spec->name);
  if (!name.ok()) co_return co_await exchange.Respond(ErrorResponse(req, name.error()));
  spec->name = std::move(*name);
  if (!spec->upstream.empty() && !spec->url.empty()) {
    co_return co_await bad(
        "give either \"upstream\" (with an optional \"path\") or \"url\", "
        "not both");
  }
  if (spec->upstream.empty() && spec->url.empty()) {
    co_return co_await bad("one of \"upstream\" or \"url\" is required");
  }
  if (!spec->path.empty() && spec->upstream.empty()) {
    co_return co_await bad("\"path\" is only meaningful with \"upstream\"");
  }

  struct Outcome {
    bool existed;
    Result<RepoStatus> repo;
  };
  // The existence check only picks 200 vs 201; RegisterRepo alone decides what happens.
  Outcome outcome = co_await RunBlocking(pool_, [this, &spec] {
    bool existed = service_.GetRepoStatus(spec->name).ok();
    return Outcome{existed, service_.RegisterRepo(*spec)};
  });
  if (!outcome.repo.ok())
    co_return co_await exchange.Respond(ErrorResponse(req, outcome.repo.error()));
  if (!outcome.existed) {
    MLOG(Info) << "admin API: registered " << spec->name << " (from " << exchange.peer() << ")";
  }
  HttpResponse res = JsonResponse(req, outcome.existed ? http::status::ok : http::status::created,
                                  json::value_from(*outcome.repo));
  res.set(http::field::location, std::string(kPrefix) + "/repos/" + outcome.repo->name);
  co_await exchange.Respond(std::move(res));
}

asio::awaitable<void> AdminApi::GetRepo(HttpExchange& exchange, std::string name) {
  auto repo = co_await RunBlocking(pool_, [this, &name] { return service_.GetRepoStatus(name); });
  if (!repo.ok())
    co_return co_await exchange.Respond(ErrorResponse(exchange.request(), repo.error()));
  co_await exchange.Respond(
      JsonResponse(exchange.request(), http::status::ok, json::value_from(*repo)));
}

asio::awaitable<void> AdminApi::DeleteRepo(HttpExchange& exchange, std::string name) {
  Status s = co_await RunBlocking(pool_, [this, &name] { return service_.RemoveRepo(name); });
  if (!s.ok()) co_return co_await exchange.Respond(ErrorResponse(exchange.request(), s));
  MLOG(Info) << "admin API: removed " << name << " (from " << exchange.peer() << ")";
  HttpResponse res = MakeResponse(exchange.request(), http::status::no_content, "");
  res.erase(http::field::content_type);
  co_await exchange.Respond(std::move(res));
}

asio::awaitable<void> AdminApi::SyncRepo(HttpExchange& exchange, std::string name) {
  const HttpRequest& req = exchange.request();
  Result<bool> follow = FollowParam(exchange.query());
  if (!follow.ok()) co_return co_await exchange.Respond(ErrorResponse(req, follow.error()));
  auto run_id = co_await RunBlocking(
      pool_, [this, &name] { return service_.RequestSync(name, SyncTrigger::kManual); });
  if (!run_id.ok()) co_return co_await exchange.Respond(ErrorResponse(req, run_id.error()));
  MLOG(Info) << "admin API: sync of " << name << " requested as run " << *run_id << " (from "
             << exchange.peer() << ")";
  if (*follow) co_return co_await FollowRun(exchange, *run_id);
  json::object body;
  body["run_id"] = *run_id;
  HttpResponse res = JsonResponse(req, http::status::accepted, body);
  res.set(http::field::location, std::string(kPrefix) + "/runs/" + std::to_string(*run_id));
  co_await exchange.Respond(std::move(res));
}

asio::awaitable<void> AdminApi::FollowRun(HttpExchange& exchange, int64_t run_id) {
  const HttpRequest& req = exchange.request();
  http::response<http::empty_body> header{http::status::ok, req.version()};
  header.set(http::field::content_type, kNdjsonType);
  header.set(http::field::cache_control, "no-store");
  header.keep_alive(req.keep_alive());
  if (!co_await exchange.BeginStream(std::move(header))) co_return;

  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::string last_line;
  auto last_sent = std::chrono::steady_clock::time_point::min();
  for (;;) {
    auto run = co_await RunBlocking(pool_, [this, run_id] { return service_.GetRun(run_id); });
    if (!run.ok()) {
      // The stream's status line is already sent; the error goes in-band as the last line.
      (void)co_await exchange.Write(ErrorJson(run.error()) + "\n");
      break;
    }
    std::string line = json::serialize(json::value_from(*run)) + "\n";
    auto now = std::chrono::steady_clock::now();
    if (line != last_line || now - last_sent >= options_.follow_heartbeat_interval) {
      if (!co_await exchange.Write(line)) {
        MLOG(Debug) << "admin API: " << exchange.peer() << " stopped following run " << run_id;
        break;  // the client left; the sync itself carries on
      }
      last_line = std::move(line);
      last_sent = now;
    }
    if (IsFinalRunState(run->state)) break;
    timer.expires_after(options_.follow_poll_interval);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) break;  // cancelled: the server is shutting down
  }
  co_await exchange.EndStream();
}

asio::awaitable<void> AdminApi::GetRun(HttpExchange& exchange, std::string_view id_text) {
  const HttpRequest& req = exchange.request();
  int64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id <= 0) {
    co_return co_await exchange.Respond(
        ErrorResponse(req, InvalidArgument("run id must be a positive integer, got \"" +
                                           std::string(id_text) + "\"")));
  }
  auto run = co_await RunBlocking(pool_, [this, id] { return service_.GetRun(id); });
  if (!run.ok()) co_return co_await exchange.Respond(ErrorResponse(req, run.error()));
  co_await exchange.Respond(JsonResponse(req, http::status::ok, json::value_from(*run)));
}

}  // namespace mirrord
