// libcurl's C handles, each owned by a unique_ptr with its cleanup function, and the
// process-wide curl_global_init. Every curl handle in mirrord is one of these.
// Thread-safety: a handle belongs to one thread at a time (libcurl's rule);
// EnsureCurlInitialized is thread-safe.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace mirrord {

struct CurlEasyDeleter {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* p) const { curl_multi_cleanup(p); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* p) const { curl_share_cleanup(p); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* p) const { curl_slist_free_all(p); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
// Shared: a share handle outlives every easy handle attached to it (each holds a copy).
using CurlSharePtr = std::shared_ptr<CURLSH>;

// curl_global_init, once per process. OK on success (and on every later call); Internal if
// libcurl could not initialise (every later call says so too).
Status EnsureCurlInitialized();

// A header list of `lines` ("Name: value" each). ResourceExhausted when curl cannot
// allocate; never a list with some lines silently missing.
Result<CurlSlistPtr> MakeHeaderList(const std::vector<std::string>& lines);

// A share handle for connections, DNS and TLS sessions, so that consecutive requests of one
// conversation (one git fetch) reuse a connection; nullptr when curl cannot allocate one
// (requests then simply do not share).
CurlSharePtr MakeConnectionShare();

}  // namespace mirrord
