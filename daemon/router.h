// Router: maps a request's (method, decoded path) to the handler that answers it.
//
// Lookup order: exact routes ("/healthz"), then prefix routes, longest first ("/api/v1/"),
// then claimed paths (AddClaim, in the order added), then the repository fallback for
// "/<name>.git/..." and "/<name>/..." (git smart HTTP and LFS). Paths whose first segment is reserved for mirrord's own URLs never reach the
// fallback. Errors are handlers too: 404 unknown path, 405 known path with another method
// (with an Allow header), 400 invalid repository name (nothing on disk is touched).
// A GET route also answers HEAD unless HEAD has its own route.
//
// Thread-safety: configure (Add*, SetRepoHandler) before serving; Match() is const and may
// then be called from any thread concurrently.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/http_exchange.h"

namespace mirrord {

inline constexpr uint64_t kDefaultBodyLimit = 64ull << 20;  // 64 MiB

// Called (on the connection's strand) with the request header when a body exceeds the
// limit, just before the server answers 413 on the route's behalf; e.g. for metrics.
using BodyTooLargeHook = std::function<void(const http::request_header<>&)>;

struct RouteOptions {
  // Largest request body the server reads for this route; beyond it the client gets 413.
  uint64_t body_limit = kDefaultBodyLimit;
  BodyTooLargeHook on_body_too_large;
  // False: the route never needs a body (an upload refused by a read-only mirror); the
  // handler runs without one and a connection that carried one is closed afterwards.
  bool read_body = true;
};

// A repository URL split into the repository and what follows it.
struct RepoPath {
  std::string name;  // canonical: validated by ValidateRepoName, no ".git" suffix
  std::string rest;  // "" or starting with '/': "/info/refs", "/git-upload-pack", "/info/lfs/..."
};

// Splits a decoded request path ("/owner/repo.git/info/refs", "/owner/repo/git-upload-pack",
// "/hf/org/model.git/info/lfs/objects/batch") into name and rest. The name ends before a
// known smart-HTTP or LFS suffix ("/info/refs", "/git-upload-pack", "/git-receive-pack",
// "/info/lfs"), else after the first segment ending in ".git", else it is the whole path.
// InvalidArgument (the ValidateRepoName reason) for a bad name; `path` must start with '/'.
Result<RepoPath> ParseRepoPath(std::string_view path);

// Handles requests below a repository; `repo` stays valid until the returned awaitable ends.
using RepoHandler = std::function<boost::asio::awaitable<void>(HttpExchange&, const RepoPath&)>;

// What the server runs for one request.
struct RouteMatch {
  HttpHandler handler;
  uint64_t body_limit = kDefaultBodyLimit;
  BodyTooLargeHook on_body_too_large;  // may be empty
  // False for error answers (404/405/400): the server does not read the body, and closes
  // the connection afterwards if the request had one.
  bool read_body = true;
};

class Router {
 public:
  // Exact path, one or more methods.
  void Add(std::initializer_list<http::verb> methods, std::string path, HttpHandler handler,
           RouteOptions options = {});
  void Add(http::verb method, std::string path, HttpHandler handler, RouteOptions options = {}) {
    Add({method}, std::move(path), std::move(handler), options);
  }
  // Every path starting with `prefix` (e.g. "/api/v1/").
  void AddPrefix(std::initializer_list<http::verb> methods, std::string prefix, HttpHandler handler,
                 RouteOptions options = {});
  // Every path `claims` accepts, for URL shapes that neither an exact path nor a prefix
  // describes (the Hugging Face "/<repo>/resolve/<rev>/<file>"). `claims` must be cheap and
  // thread-safe; it sees the decoded path.
  void AddClaim(std::initializer_list<http::verb> methods,
                std::function<bool(std::string_view path)> claims, HttpHandler handler,
                RouteOptions options = {});
  // The repository fallback (normally GitHttpHandler), for any method.
  void SetRepoHandler(RepoHandler handler, RouteOptions options = {});
  // Same, with options per repository path (per-endpoint body limits: an LFS batch gets far
  // less than an upload-pack negotiation). `options` must be thread-safe.
  using RepoRouteOptions = std::function<RouteOptions(http::verb, const RepoPath&)>;
  void SetRepoHandler(RepoHandler handler, RepoRouteOptions options);

  // Never fails: unmatched requests get an error handler.
  RouteMatch Match(http::verb method, std::string_view path) const;

 private:
  struct Route {
    std::vector<http::verb> methods;
    std::string path;
    bool prefix = false;
    std::function<bool(std::string_view)> claims;  // set for AddClaim routes
    HttpHandler handler;
    RouteOptions options;
  };
  // The answer for `routes` (all matching the path) and `method`: a handler or a 405.
  static RouteMatch MatchMethod(const std::vector<const Route*>& routes, http::verb method);

  std::vector<Route> routes_;
  RepoHandler repo_handler_;
  RepoRouteOptions repo_options_;
};

// An error handler answering `status` with `message` as text/plain.
HttpHandler ErrorHandler(http::status status, std::string message);

}  // namespace mirrord
