// HfApiHandler: the Hub API calls huggingface_hub and @huggingface/hub make before and
// around downloads, below /api/models/ and /api/datasets/ (see hf_paths.h for the URLs):
//
//   GET  {repo}[/revision/{rev}]   id, sha, lastModified, siblings[{rfilename}] (with
//                                  ?blobs=true also blobId, size, lfs{sha256,size,pointerSize})
//   GET  {repo}/tree/{rev}[/{path}]?recursive=&expand=&cursor=
//                                  entries {type, oid, size, path, lfs{oid,size,pointerSize}},
//                                  at most kHfTreePageSize per answer, then Link: rel="next"
//   POST {repo}/paths-info/{rev}   {"paths": [...]} (JSON or form-encoded, at most
//                                  kHfMaxPathsInfoPaths paths): the entries that exist
//   GET  {repo}/refs               branches, tags (and pullRequests with ?include_prs=1)
//
// Only the published state is visible. Xet is never advertised (no xetHash): clients then
// download through /resolve/. Every answer is bounded: a listing page by kHfTreePageSize,
// siblings by kHfMaxSiblings (a repo with more files answers 500 rather than a truncated
// list), request bodies by kHfApiBodyLimit. Tree pages and model info are kept, keyed by
// commit, in the locator's cache (hf_answer_cache.h): a repeated one is answered from memory
// on the network thread; other requests and misses are worked out on `blocking`.
// Thread-safety: Handle() may run concurrently on any number of connections.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <string>

#include "daemon/base_url.h"
#include "daemon/hf_repo_locator.h"
#include "daemon/http_exchange.h"

namespace mirrord {

inline constexpr uint64_t kHfTreePageSize = 1000;
inline constexpr uint64_t kHfMaxSiblings = 100000;
inline constexpr uint64_t kHfMaxPathsInfoPaths = 1000;
inline constexpr uint64_t kHfApiBodyLimit = 1 << 20;

class HfApiHandler {
 public:
  // `locator` and `blocking` must outlive the handler. Link URLs start with `base_url`.
  HfApiHandler(HfRepoLocator& locator, boost::asio::thread_pool& blocking, BaseUrl base_url);

  boost::asio::awaitable<void> Handle(HttpExchange& exchange);

 private:
  HfRepoLocator& locator_;
  boost::asio::thread_pool& blocking_;
  BaseUrl base_url_;
};

}  // namespace mirrord
