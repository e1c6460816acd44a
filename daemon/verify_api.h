// VerifyApi: the admin endpoint of verification at rest (bearer token as the rest of
// /api/v1/):
//
//   POST /api/v1/verify[?repo=NAME]
//        -> 200 {"mirrors":[{"name","ok","error"?}...],"objects_checked","bytes_checked",
//                "objects_absent","corrupt":[{"oid","size","repo","outcome","error"?}...]}
//        `outcome` is "refetched", "lost" (the upstream no longer has it: reported, never
//        served) or "quarantined" (out of the served store; fetched again later).
//        Without `repo`: every mirror and every object of the store.
//
// Errors are {"error":{"code","message"}} (400 a bad name, 404 an unknown repo). The work
// runs on the blocking pool at full speed (the background scrub is the rate-limited one).
// Thread-safety: Handle may run concurrently (VerifyService serialises runs).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "common/live_value.h"
#include "daemon/http_exchange.h"
#include "daemon/verify_service.h"

namespace mirrord {

class VerifyApi {
 public:
  // Everything passed must outlive the VerifyApi. An empty `admin_token` refuses every call.
  VerifyApi(VerifyService& verify, boost::asio::thread_pool& blocking, std::string admin_token)
      : verify_(verify), blocking_(blocking), admin_token_(std::move(admin_token)) {}

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  VerifyService& verify_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
