// The read-access gate in front of the repository handlers (git smart HTTP and Git LFS):
// every request under /<name>.git/... is decided by ReadAccess (daemon/read_access.h)
// before the handler sees it, so an absent and a private repository get the same answer.
//
//   no credentials, private or absent name   401, WWW-Authenticate: Basic realm="mirrord"
//                                            (git and git-lfs then ask their credential
//                                            helper; any user name, the token as password)
//   credentials that do not grant the name   404 "repository not found" (git: text; LFS:
//                                            its JSON error body), identical for both
//   a client over its failure limit          429 + Retry-After (requests with credentials)
// A request allowed by a token notes the token's name (and every request its repo) in the
// exchange's audit record.
// Thread-safety: the returned handler may run concurrently; ReadAccess is thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "daemon/read_access.h"
#include "daemon/router.h"

namespace mirrord {

// `access` and `pool` (for the catalog reads) must outlive the returned handler.
RepoHandler GateRepoReads(ReadAccess& access, boost::asio::thread_pool& pool, RepoHandler inner);

// The challenge every Basic-authenticated protocol sends.
inline constexpr std::string_view kBasicChallenge = "Basic realm=\"mirrord\"";

}  // namespace mirrord
