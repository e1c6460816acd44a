// The read-access gate in front of the Hugging Face–compatible endpoint (/api/models/...,
// /api/datasets/..., /<repo>/resolve/...): the request's Hub id is located (HfRepoLocator)
// and ReadAccess (daemon/read_access.h) decides for the mirror it names, before the
// handler or its answer cache sees the request. huggingface_hub sends HF_TOKEN as
// "Authorization: Bearer <token>" (Basic is taken too).
//
//   allowed (public, or a granting token)     the handler answers
//   no, wrong or non-granting credentials     the handler's own answer for an absent repo
//                                             (404, X-Error-Code: RepoNotFound), byte for
//                                             byte: the Hub client sends its token up front,
//                                             so no challenge is needed, and none is sent
//   a client over its failure limit           429 + Retry-After
// Unparseable targets pass through: the handler answers them 400 as before.
// Thread-safety: the returned handler may run concurrently.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <optional>
#include <string>

#include "daemon/hf_error.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_repo_locator.h"
#include "daemon/http_exchange.h"
#include "daemon/read_access.h"

namespace mirrord {

// Where a request's repository is: its type and Hub id, nullopt when the target does not
// parse; and the answer the handler gives when that id names no repository.
struct HfGateTarget {
  std::function<std::optional<std::pair<HfRepoType, std::string>>(std::string_view raw_target)>
      parse;
  std::function<HfFailure(const std::string& repo_id)> absent;
};

// Targets of the resolve handler (daemon/hf_resolve_handler.h) and the API handler.
HfGateTarget HfResolveGateTarget();
HfGateTarget HfApiGateTarget();

// Everything passed must outlive the returned handler.
HttpHandler GateHfReads(ReadAccess& access, HfRepoLocator& locator, boost::asio::thread_pool& pool,
                        HfGateTarget target, HttpHandler inner);

}  // namespace mirrord
