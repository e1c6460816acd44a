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
// Thread-safety: Handle() may run concurrently; blocking work runs on the blocking pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "daemon/http_exchange.h"
#include "daemon/metrics.h"
#include "daemon/sync_scheduler.h"
#include "storage/job_queue.h"

namespace mirrord {

inline constexpr uint64_t kGitHubWebhookBodyLimit = 25ull * 1000 * 1000;

class GitHubWebhookHandler {
 public:
  // `secret`: the shared secret ("" disables the endpoint). Everything else must outlive
  // the handler.
  GitHubWebhookHandler(std::string secret, SyncScheduler& scheduler, JobQueue& queue,
                       Metrics& metrics, boost::asio::thread_pool& blocking_pool);

  boost::asio::awaitable<void> Handle(HttpExchange& exchange);
  // Counts a delivery the server refused with 413 (RouteOptions::on_body_too_large).
  void RecordTooLarge(const http::request_header<>& header);

 private:
  struct Outcome {
    http::status status;
    std::string body;  // JSON
  };
  // Everything after the signature check; runs on the blocking pool.
  Outcome Process(std::string_view event_header, std::string_view delivery_header,
                  std::string_view content_type, const std::string& body);

  const std::string secret_;
  SyncScheduler& scheduler_;
  JobQueue& queue_;
  Metrics& metrics_;
  boost::asio::thread_pool& pool_;
};

// Reads a webhook secret file: its content without trailing whitespace. InvalidArgument when
// it is empty.
Result<std::string> ReadWebhookSecret(const std::filesystem::path& file);

}  // namespace mirrord
