// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224);
// the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/router.h"

#include <algorithm>
#include <array>

#include "common/repo_name.h"

namespace mirrord {
namespace {

// First path segments that belong to mirrord itself (see ValidateRepoName); unmatched
// paths below them are 404, not "invalid repository name".
constexpr std::array<std::string_view, 6> kReservedFirstSegments = {
    "api", "healthz", "readyz", "metrics", "webhooks", "datasets"};

constexpr std::array<std::string_view, 3> kServiceSuffixes = {"/info/refs", "/git-upload-pack",
                                                              "/git-receive-pack"};
constexpr std::string_view kLfsMarker = "/info/lfs";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Where the repository name ends in `path` (which starts with '/').
size_t NameEnd(std::string_view path) {
  for (std::string_view suffix : kServiceSuffixes) {
    if (EndsWith(path, suffix)) return path.size() - suffix.size();
  }
  for (size_t pos = path.find(kLfsMarker); pos != std::string_view::npos;
       pos = path.find(kLfsMarker, pos + 1)) {
    size_t after = pos + kLfsMarker.size();
    if (after == path.size() || path[after] == '/') return pos;
  }
  size_t start = 1;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end - start > 4 && EndsWith(path.substr(start, end - start), ".git")) return end;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return path.size();
}

std::string_view FirstSegment(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.substr(0, path.find('/'));
}

bool HasMethod(const std::vector<http::verb>& methods, http::verb method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

}  // namespace

Result<RepoPath> ParseRepoPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return InvalidArgument("path must start with '/'");
  size_t end = std::max<size_t>(NameEnd(path), 1);
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(path.substr(1, end - 1)));
  return RepoPath{std::move(name), std::string(path.substr(end))};
}

HttpHandler ErrorHandler(http::status status, std::string message) {
  return [status, message = std::move(message)](HttpExchange& ex) -> boost::asio::awaitable<void> {
    co_await ex.Respond(MakeResponse(ex.request(), status, message));
  };
}

void Router::Add(std::initializer_list<http::verb> methods, std::string path, HttpHandler handler,
                 RouteOptions options) {
  routes_.push_back(Route{methods, std::move(path), false, {}, std::move(handler), options});
}

void Router::AddPrefix(std::initializer_list<http::verb> methods, std::string prefix,
                       HttpHandler handler, RouteOptions options) {
  routes_.push_back(Route{methods, std::move(prefix), true, {}, std::move(handler), options});
}

void Router::AddClaim(std::initializer_list<http::verb> methods,
                      std::function<bool(std::string_view)> claims, HttpHandler handler,
                      RouteOptions options) {
  routes_.push_back(Route{methods, "", false, std::move(claims), std::move(handler), options});
}

void Router::SetRepoHandler(RepoHandler handler, RouteOptions options) {
  SetRepoHandler(std::move(handler),
                 [options](http::verb, const RepoPath&) -> RouteOptions { return options; });
}

void Router::SetRepoHandler(RepoHandler handler, RepoRouteOptions options) {
  repo_handler_ = std::move(handler);
  repo_options_ = std::move(options);
}

RouteMatch Router::MatchMethod(const std::vector<const Route*>& routes, http::verb method) {
  for (const Route* r : routes) {
    if (HasMethod(r->methods, method))
      return {r->handler, r->options.body_limit, r->options.on_body_too_large,
              r->options.read_body};
  }
  if (method == http::verb::head) {
    for (const Route* r : routes) {
      if (HasMethod(r->methods, http::verb::get))
        return {r->handler, r->options.body_limit, r->options.on_body_too_large,
                r->options.read_body};
    }
  }
  std::vector<http::verb> allowed;
  for (const Route* r : routes) {
    for (http::verb m : r->methods) {
      if (!HasMethod(allowed, m)) allowed.push_back(m);
    }
    if (HasMethod(r->methods, http::verb::get) && !HasMethod(allowed, http::verb::head)) {
      allowed.push_back(http::verb::head);
    }
  }
  std::string allow;
  for (http::verb m : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(m));
  }
  RouteMatch match;
  match.read_body = false;
  match.handler = [allow](HttpExchange& ex) -> boost::asio::awaitable<void> {
    HttpResponse res =
        MakeResponse(ex.request(), http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, allow);
    co_await ex.Respond(std::move(res));
  };
  return match;
}

RouteMatch Router::Match(http::verb method, std::string_view path) const {
  std::vector<const Route*> candidates;
  for (const Route& r : routes_) {
    if (!r.prefix && !r.claims && r.path == path) candidates.push_back(&r);
  }
  if (candidates.empty()) {
    size_t best = 0;
    for (const Route& r : routes_) {
      if (r.prefix && path.substr(0, r.path.size()) == r.path && r.path.size() >= best) {
        if (r.path.size() > best) candidates.clear();
        best = r.path.size();
        candidates.push_back(&r);
      }
    }
  }
  if (candidates.empty()) {
    for (const Route& r : routes_) {
      if (r.claims && r.claims(path)) {
        candidates.push_back(&r);
        break;
      }
    }
  }
  if (!candidates.empty()) return MatchMethod(candidates, method);

  RouteMatch not_found;
  not_found.read_body = false;
  not_found.handler = ErrorHandler(http::status::not_found, "not found\n");
  std::string_view first = FirstSegment(path);
  if (path == "/" || !repo_handler_ ||
      std::find(kReservedFirstSegments.begin(), kReservedFirstSegments.end(), first) !=
          kReservedFirstSegments.end()) {
    return not_found;
  }
  Result<RepoPath> repo = ParseRepoPath(path);
  if (!repo.ok()) {
    RouteMatch bad;
    bad.read_body = false;
    bad.handler = ErrorHandler(http::status::bad_request, repo.error().message() + "\n");
    return bad;
  }
  RouteMatch match;
  RouteOptions options = repo_options_(method, *repo);
  match.body_limit = options.body_limit;
  match.on_body_too_large = std::move(options.on_body_too_large);
  match.read_body = options.read_body;
  match.handler = [handler = repo_handler_, repo = std::move(*repo)](HttpExchange& ex) {
    ex.audit().repo = repo.name;  // for the access log
    return handler(ex, repo);
  };
  return match;
}

}  // namespace mirrord
