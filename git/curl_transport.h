// The smart-HTTP transport mirrord gives libgit2 for http:// and https:// upstreams, built on
// libcurl. libgit2 1.5's own HTTP client has no transfer timeout, so a stalled upstream would
// hang a sync forever; with curl we get a stall timeout (no byte for N seconds), a connect
// timeout, proxies from the environment (http_proxy, https_proxy, no_proxy), prompt
// cancellation, and precise error messages. Responses are streamed: libgit2 reads the pack
// as it arrives, at most one curl read round is buffered in memory.
//
// The transport is installed per fetch through git_remote_callbacks::transport (not by a
// process-wide git_transport_register), so the per-fetch settings travel with the remote
// and other libgit2 users in the process are unaffected.
#pragma once

#include <git2.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/url.h"  // IsHttpUrl

namespace mirrord {

struct HttpTransportOptions {
  std::string token;  // empty: anonymous; else HTTP Basic "x-access-token:<token>"
  std::chrono::seconds stall_timeout{60};     // abort when no byte arrives for this long
  std::chrono::seconds connect_timeout{30};   // TCP + TLS handshake
  const std::atomic<bool>* cancel = nullptr;  // set to abort promptly (polled every 100 ms)
  long max_redirects = 5;  // followed on the first (ref advertisement) request only
  // Objects the local repository has (its ref tips), sent as extra "have" lines in the final
  // upload-pack request so the upstream leaves out everything they reach
  // (upload_pack_request.h says why libgit2's own haves are not enough).
  std::vector<std::string> extra_haves;
};

// Per-fetch state shared by the fetcher and the transport streams it creates: the options,
// and the first error the transport hit. libgit2 often replaces a transport's message with a
// generic one ("early EOF"), so the fetcher prefers error() when the fetch fails.
// Thread-safety: used only by the thread running the fetch (libgit2 runs the whole fetch,
// transport included, on the calling thread); the cancel flag may be set from any thread.
class HttpTransportContext {
 public:
  explicit HttpTransportContext(HttpTransportOptions options) : options_(std::move(options)) {}
  HttpTransportContext(const HttpTransportContext&) = delete;
  HttpTransportContext& operator=(const HttpTransportContext&) = delete;

  const HttpTransportOptions& options() const { return options_; }
  bool cancel_requested() const {
    return options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed);
  }
  // The first recorded error; OK when none.
  const Status& error() const { return error_; }
  // Keeps `status` unless an error was already recorded (the first error is the cause).
  void RecordError(const Status& status) {
    if (error_.ok() && !status.ok()) error_ = status;
  }

 private:
  HttpTransportOptions options_;
  Status error_;
};

// Body of a git_transport_cb. For an http(s) remote URL, creates libgit2's smart transport
// over a libcurl subtransport (stateless RPC) that uses `context`; for any other URL (file://,
// a local path) creates libgit2's built-in transport for it. `context` must outlive the
// remote's connection. On failure returns a libgit2 error code with git_error set.
int CreateHttpTransport(git_transport** out, git_remote* owner, HttpTransportContext* context);

}  // namespace mirrord
