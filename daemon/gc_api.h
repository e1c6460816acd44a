// GcApi: the admin endpoints of garbage collection (bearer token as the rest of /api/v1/):
//
//   POST /api/v1/gc[?dry_run=1][&grace=DURATION]
//        -> 200 {"dry_run","grace_seconds","reclaimed_bytes",
//                "lfs":{"swept_objects","swept_bytes","objects":[{"oid","size",
//                       "unreferenced_since"}...],"objects_truncated","referenced_objects",
//                       "referenced_bytes","in_grace_objects","in_grace_bytes",
//                       "kept_on_recheck"},
//                "git":{"objects","bytes","repos":[{"name","objects","bytes","skipped"?,
//                       "error"?}...]}}
//        One collection (daemon/gc_service.h); `grace` defaults to [gc] grace ("0" allowed).
//   POST /api/v1/gc/purge?repo=NAME
//        -> 200 the same shape with "purged": NAME: removes the repo and at once frees the
//           LFS objects only it referenced (`mirrorctl remove --purge`).
//
// Errors are {"error":{"code","message"}} (400 a bad grace or name, 404 an unknown repo,
// 409 a repo the config manages). The collection runs on the blocking pool.
// Thread-safety: Handle may run concurrently (GcService serialises collections).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "common/live_value.h"
#include "daemon/gc_service.h"
#include "daemon/http_exchange.h"

namespace mirrord {

class GcApi {
 public:
  // Everything passed must outlive the GcApi. An empty `admin_token` refuses every call.
  GcApi(GcService& gc, boost::asio::thread_pool& blocking, std::string admin_token)
      : gc_(gc), blocking_(blocking), admin_token_(std::move(admin_token)) {}

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  GcService& gc_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
