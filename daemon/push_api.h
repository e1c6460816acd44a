// PushApi: the admin endpoints of push jobs (bearer token as the rest of /api/v1/):
//
//   POST /api/v1/images/<name>:<tag>/push   body {"registry": "NAME"}
//        -> 202 {"run_id","image","digest","registry","repository","tags","coalesced"},
//           Location: /api/v1/pushes/<run_id>
//        Queues a push job (daemon/push_jobs.h) of that image (or model artifact) tag to
//        [registries] NAME; one of the same manifest to the same registry already queued
//        absorbs it (coalesced, its run id; the tag is added to it).
//   GET  /api/v1/pushes[?image=NAME&limit=N]
//        -> 200 {"pushes": [PushRunView...]} newest first (limit 1..1000, default 100)
//   GET  /api/v1/pushes/<run_id>
//        -> 200 PushRunView (common/api_json.h): state, live progress while it runs, what
//           was sent, or the error (which blob, and why) with its typed failure.
//
// Errors are {"error":{"code","message"}} with the admin API's HTTP statuses (404 unknown
// image, tag, registry or run; 400 a bad body; 409 an image whose recipe is gone).
// Thread-safety: Handle* may run concurrently.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "common/live_value.h"
#include "daemon/http_exchange.h"
#include "daemon/push_job_runner.h"
#include "daemon/push_jobs.h"

namespace mirrord {

// True for a POST path the push endpoint takes: /api/v1/images/<name>:<tag>/push.
bool IsImagePushPath(std::string_view path);

class PushApi {
 public:
  // Everything passed must outlive the PushApi. An empty `admin_token` refuses every call.
  PushApi(PushJobs& jobs, const PushJobRunner& runner, Catalog& catalog,
          boost::asio::thread_pool& blocking, std::string admin_token)
      : jobs_(jobs),
        runner_(runner),
        catalog_(catalog),
        blocking_(blocking),
        admin_token_(std::move(admin_token)) {}

  // /api/v1/pushes and /api/v1/pushes/<id>.
  boost::asio::awaitable<void> HandleRuns(HttpExchange& ex);
  // POST /api/v1/images/<name>:<tag>/push.
  boost::asio::awaitable<void> HandleImagePush(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  PushJobs& jobs_;
  const PushJobRunner& runner_;
  Catalog& catalog_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
