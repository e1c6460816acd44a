// The read-access gate in front of the read-only registry (/v2/...): images and model
// artifacts of a [[builds]] recipe are as private as the recipe's repo (an image no recipe
// names any more counts as private, its own name matched against token globs).
//
// Clients authenticate as the Docker token flow has them do (docker login, skopeo --creds,
// containerd):
//   GET /v2/ without credentials, when the mirror has private repos
//        401, WWW-Authenticate: Bearer realm="<base>/v2/token",service="mirrord"
//   GET /v2/token?service=mirrord&scope=repository:NAME:pull   (Basic: any user, the read
//        token as password; or no credentials for public images)
//        200 {"token", "access_token", "expires_in", "issued_at"}: a registry token
//        (common/registry_token.h) naming the read token; 401 for credentials that are no
//        read token (what docker login reports as a failed login); the scope is not
//        encoded: every request is authorised against the read token's current globs
//   then "Authorization: Bearer <registry token>" on every request. Basic with the read
//   token, and Bearer with the read token itself, are accepted too.
// A private image without a granting token:
//   no credentials (or an expired registry token)   401 with the Bearer challenge and
//        scope="repository:NAME:pull", the same as for an absent name
//   credentials that do not grant it                404 NAME_UNKNOWN, the same as for an
//        absent name
//   a client over its failure limit                 429 + Retry-After
// /v2/_catalog lists only the names the request may see.
// Thread-safety: the returned handler may run concurrently.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/base_url.h"
#include "daemon/read_access.h"
#include "daemon/registry_http_handler.h"

namespace mirrord {

struct RegistryGateOptions {
  std::string token_key;  // RegistryTokenKey(admin token)
  BaseUrl base_url{BaseUrlOptions{}};
};

// Everything passed must outlive the returned handler.
HttpHandler GateRegistryReads(ReadAccess& access, const LiveConfig& config,
                              boost::asio::thread_pool& pool, const Clock& clock,
                              RegistryGateOptions options,
                              std::shared_ptr<RegistryHttpHandler> registry);

}  // namespace mirrord
