// AdminApi: the JSON admin API served under /api/v1/ (bearer token required):
//
//   GET    /api/v1/repos                  -> 200 {"repos": [RepoStatus...]}
//   POST   /api/v1/repos                  {"name", "upstream"?, "path"?, "url"?}
//                                          -> 201 RepoStatus (200 if it existed identically)
//   GET    /api/v1/repos/<name>           -> 200 RepoStatus
//   DELETE /api/v1/repos/<name>           -> 204
//   POST   /api/v1/repos/<name>:sync      -> 202 {"run_id": N}
//   POST   /api/v1/repos/<name>:sync?follow=1
//                                          -> 200 application/x-ndjson, one SyncRunView per
//                                             line until the run is final (the last line)
//   GET    /api/v1/runs/<id>              -> 200 SyncRunView
//   GET    /api/v1/queue                  -> 200 QueueView (queued and running jobs of every
//                                             node, paused upstream hosts)
//
// Repo names contain '/', so actions on a repo are a ":verb" suffix (':' is never valid in a
// name). JSON shapes are those of common/api_json.h. Errors are
// {"error": {"code": "<StatusCodeName>", "message": "..."}} with the HTTP status from
// HttpStatusFor(). A request without a valid "Authorization: Bearer <token>" gets 401 and
// never reaches the SyncService.
//
// Thread-safety: Handle() may run concurrently for many exchanges; AdminApi holds no mutable
// state. SyncService calls run on the blocking pool (they touch SQLite).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/live_value.h"
#include "common/status.h"
#include "daemon/http_exchange.h"
#include "daemon/sync_service.h"

namespace mirrord {

struct AdminApiOptions {
  // How often a followed sync is polled, and the longest gap between two streamed lines
  // (a repeat of the current view serves as heartbeat and detects departed clients).
  std::chrono::milliseconds follow_poll_interval{250};
  std::chrono::milliseconds follow_heartbeat_interval{5000};
};

class AdminApi {
 public:
  // `service` and `blocking_pool` must outlive the AdminApi. An empty `admin_token` makes
  // every request fail authentication (never "no auth").
  AdminApi(SyncService& service, boost::asio::thread_pool& blocking_pool, std::string admin_token,
           AdminApiOptions options = {});

  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Answers the exchange exactly once. The path may carry the "/api/v1" prefix or not.
  boost::asio::awaitable<void> Handle(HttpExchange& exchange);
  // Replaces the admin token (a reload); requests already authenticated go on. Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  boost::asio::awaitable<void> Route(HttpExchange& exchange, std::string_view path);
  boost::asio::awaitable<void> ListRepos(HttpExchange& exchange);
  boost::asio::awaitable<void> GetQueue(HttpExchange& exchange);
  boost::asio::awaitable<void> CreateRepo(HttpExchange& exchange);
  boost::asio::awaitable<void> GetRepo(HttpExchange& exchange, std::string name);
  boost::asio::awaitable<void> DeleteRepo(HttpExchange& exchange, std::string name);
  boost::asio::awaitable<void> SyncRepo(HttpExchange& exchange, std::string name);
  boost::asio::awaitable<void> FollowRun(HttpExchange& exchange, int64_t run_id);
  boost::asio::awaitable<void> GetRun(HttpExchange& exchange, std::string_view id_text);

  SyncService& service_;
  boost::asio::thread_pool& pool_;
  LiveValue<std::string> admin_token_;
  const AdminApiOptions options_;
};

// The HTTP status the admin API answers a failed Status with: InvalidArgument 400,
// NotFound 404, AlreadyExists 409, PermissionDenied 403, FailedPrecondition 409,
// Unavailable and Cancelled 503, anything else 500.
boost::beast::http::status HttpStatusFor(StatusCode code);

}  // namespace mirrord
