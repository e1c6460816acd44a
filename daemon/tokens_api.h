// TokensApi: read tokens (daemon/read_access.h) through the admin API (admin bearer token
// as the rest of /api/v1/):
//
//   GET    /api/v1/tokens          -> 200 {"tokens": [{"name", "repos": [GLOB...],
//                                                      "created_at"}...]}  (never a token)
//   POST   /api/v1/tokens          {"name", "repos": [GLOB...]}
//                                  -> 201 {"name", "repos", "created_at", "token"}: the only
//                                     time the token is shown; 409 when the name is taken,
//                                     400 for a bad name or glob (common/read_token.h,
//                                     common/repo_glob.h)
//   DELETE /api/v1/tokens/<name>   -> 204; 404 when there is no such token. Takes effect at
//                                     once: every request looks its token up.
// Errors are {"error": {"code", "message"}} as elsewhere in the admin API.
// Thread-safety: Handle may run concurrently; catalog calls go to the pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "common/clock.h"
#include "common/live_value.h"
#include "daemon/http_exchange.h"
#include "storage/catalog.h"

namespace mirrord {

// Largest POST body: a name and a few hundred globs.
inline constexpr uint64_t kTokensApiBodyLimit = 64 * 1024;
// Most globs one token may grant.
inline constexpr size_t kMaxTokenGlobs = 256;

class TokensApi {
 public:
  // Everything passed must outlive the TokensApi. An empty `admin_token` refuses every call.
  TokensApi(Catalog& catalog, boost::asio::thread_pool& blocking, std::string admin_token,
            const Clock& clock = SystemClock::Instance())
      : catalog_(catalog),
        blocking_(blocking),
        admin_token_(std::move(admin_token)),
        clock_(clock) {}

  boost::asio::awaitable<void> Handle(HttpExchange& exchange);
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  boost::asio::awaitable<void> Create(HttpExchange& exchange);

  Catalog& catalog_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
  const Clock& clock_;
};

}  // namespace mirrord
