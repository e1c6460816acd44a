// GitHubWebhookHandler: POST /webhooks/github.
//
//   no secret configured         -> 404 (the endpoint is off)
//   missing/wrong signature      -> 401, nothing else happens
//   malformed delivery           -> 400
//   redelivery (same delivery id)-> 200 {"status":"duplicate"}, nothing queued again
//   ping                         -> 200 {"status":"pong"}
//   push / create / delete       -> 202 {"status":"queued","runs":[{"repo","run_id"}...]}
//                                   for every mirrored repo of that upstream repository
//                                   (several local names may mirror it), or
//                                   202 {"status":"ignored"} when none is mirrored
//   repository (renamed, archived, deleted, privatized, ...)
//                                -> 202, recorded on the matching repos and shown in status;
//                                   mirrored data is never deleted or moved automatically
//   any other event              -> 202 {"status":"ignored"}
// Bodies over 25 MB get 413 from the router (RouteOptions). The answer comes as soon as the
// work is queued: GitHub gives up after 10 s, we answer in milliseconds.
// The handler talks to the rest of mirrord through WebhookTarget only (SyncScheduler
// implements it; tests use a fake).
// Thread-safety: Handle() may run concurrently; blocking work runs on the blocking pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "common/api_types.h"
#include "common/live_value.h"
#include "common/status.h"
#include "daemon/http_exchange.h"
#include "daemon/metrics.h"

namespace mirrord {

// What a verified webhook delivery may ask of mirrord. Called from the blocking pool.
class WebhookTarget {
 public:
  virtual ~WebhookTarget() = default;
  // Remembers a delivery id (kept `keep_ms`): true when it is new, false for a redelivery.
  virtual Result<bool> RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                                      int64_t keep_ms) = 0;
  // The mirrored repos whose upstream is any of `urls`.
  virtual Result<std::vector<std::string>> FindReposOfUpstream(
      const std::vector<std::string>& urls) = 0;
  // Records what the upstream said about the repository (renamed, archived, ...).
  virtual Status RecordUpstreamEvent(std::string_view name, std::string_view event) = 0;
  virtual Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) = 0;
};

inline constexpr uint64_t kGitHubWebhookBodyLimit = 25ull * 1000 * 1000;

class GitHubWebhookHandler {
 public:
  // `secret`: the shared secret ("" disables the endpoint). Everything else must outlive
  // the handler.
  GitHubWebhookHandler(std::string secret, WebhookTarget& target, Metrics& metrics,
                       boost::asio::thread_pool& blocking_pool);

  boost::asio::awaitable<void> Handle(HttpExchange& exchange);
  // Replaces the secret (a reload); deliveries already being checked keep the old one.
  // Thread-safe.
  void SetSecret(std::string secret) { secret_.Set(std::move(secret)); }
  // Counts a delivery the server refused with 413 (RouteOptions::on_body_too_large).
  void RecordTooLarge(const http::request_header<>& header);

  struct Outcome {
    http::status status;
    std::string body;  // JSON
  };
  // Everything after the signature check (runs on the blocking pool); public for tests.
  Outcome Process(std::string_view event_header, std::string_view delivery_header,
                  std::string_view content_type, const std::string& body);

 private:
  LiveValue<std::string> secret_;
  WebhookTarget& target_;
  Metrics& metrics_;
  boost::asio::thread_pool& pool_;
};

// Reads a webhook secret file: its content without trailing whitespace. InvalidArgument when
// it is empty.
Result<std::string> ReadWebhookSecret(const std::filesystem::path& file);

}  // namespace mirrord
