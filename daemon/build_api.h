// BuildApi: the admin endpoints of build jobs (bearer token as the rest of /api/v1/):
//
//   POST /api/v1/builds/<name>[?ref=refs/heads/main]
//        -> 202 {"run_id","build","repo","ref","commit","coalesced"}, Location: the run's URL
//        Queues a build job (daemon/build_jobs.h); a build of the same name and ref already
//        queued absorbs it (coalesced, its run id). `ref` defaults to the repo's published
//        HEAD branch; it must be one of the repo's published refs and match one of the
//        recipe's `refs` globs when the recipe has any.
//   GET  /api/v1/builds/<name>/runs/<run_id>
//        -> 200 BuildRunView (common/api_json.h): state, live progress while it runs,
//           then the served image's digest and tags, or the failure with its typed facts.
//
// Errors are {"error":{"code","message"}} with the admin API's HTTP statuses (404 unknown
// build, ref or run; 400 a ref the recipe does not build; 409 a repo not synced yet).
// Thread-safety: Handle may run concurrently.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "daemon/build_job_runner.h"
#include "daemon/build_jobs.h"
#include "daemon/http_exchange.h"

namespace mirrord {

class BuildApi {
 public:
  // Everything passed must outlive the BuildApi. An empty `admin_token` refuses every call.
  BuildApi(BuildJobs& jobs, const BuildJobRunner& runner, boost::asio::thread_pool& blocking,
           std::string admin_token)
      : jobs_(jobs), runner_(runner), blocking_(blocking), admin_token_(std::move(admin_token)) {}

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  boost::asio::awaitable<void> Queue(HttpExchange& ex, std::string name);
  boost::asio::awaitable<void> GetRun(HttpExchange& ex, std::string name, std::string id);

  BuildJobs& jobs_;
  const BuildJobRunner& runner_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
