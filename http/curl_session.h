// One connection's worth of libcurl state, and the setup every upstream request shares.
//
// A CurlSession is an easy handle driven by a multi handle of its own, so that a running
// transfer is checked for cancellation and stalls every 100 ms (an easy handle alone only
// calls back about once a second while nothing arrives). Reusing a session for the next
// request keeps its connection alive. Perform() runs a whole transfer; Start()/Pump()/Wait()
// let a caller consume a response while it arrives (git's pack stream).
//
// Prepare() applies HttpRequestOptions, the one place where timeouts, redirects (never from
// https down to http), TLS trust (CA file, insecure), the user agent and upstream credentials
// are set. Proxies come from the environment (http_proxy, https_proxy, no_proxy), which
// libcurl reads for every handle that names no proxy.
// Thread-safety: one thread at a time (a curl handle belongs to one thread).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/curl_handles.h"

namespace mirrord {

struct HttpRequestOptions {
  std::string user_agent = "mirrord";
  std::chrono::seconds connect_timeout{30};  // TCP + TLS handshake
  // The whole exchange, redirects included; zero: no limit (the stall timeout of Perform
  // still applies).
  std::chrono::seconds total_timeout{0};
  long max_redirects = 0;  // redirects followed; 0: a 3xx is the answer
  // A redirected POST stays a POST (the LFS batch API; git-lfs does the same).
  bool keep_post_on_redirect = false;
  // Sent as HTTP Basic "x-access-token:<token>" (GitHub's and Hugging Face's form), only
  // to the request URL's origin: curl never forwards it to where a redirect leads.
  std::string token;
  std::string ca_file;    // trust anchors instead of the system's; empty: the system's
  bool insecure = false;  // no certificate or host name check (a lab registry's own cert)
  long buffer_size = 0;   // receive buffer (CURLOPT_BUFFERSIZE); 0: curl's default
};

class CurlSession {
 public:
  // Fails with Internal when curl cannot initialise, ResourceExhausted when it cannot
  // allocate a handle.
  static Result<std::unique_ptr<CurlSession>> Create();
  ~CurlSession();
  CurlSession(const CurlSession&) = delete;
  CurlSession& operator=(const CurlSession&) = delete;

  // The easy handle, reset to defaults (curl_easy_reset keeps live connections and caches)
  // with no signals, the error buffer, http(s) only, `url` and `options`. The caller adds
  // the method, headers and callbacks, then calls Perform() (or Start()).
  CURL* Prepare(const std::string& url, const HttpRequestOptions& options);

  // Runs the prepared transfer to its end. On return `*result` is curl's outcome (CURLE_OK
  // for any complete HTTP response, whatever its status) and the returned Status is OK;
  // Cancelled if `stop_requested` (asked every 100 ms at least; may be empty) returned true,
  // DeadlineExceeded if no byte moved for `stall_timeout` (zero: no limit): the transfer is
  // then abandoned and `*result` is meaningless. Internal if the multi interface fails.
  Status Perform(const std::function<bool()>& stop_requested,
                 std::chrono::milliseconds stall_timeout, CURLcode* result);

  // The parts of Perform, for a caller that consumes the body as it arrives: Start() once,
  // then Pump() (moves bytes: the callbacks run; true with `*result` set once the transfer
  // ended) and Wait() (up to `timeout` for the socket) until it ends. Internal if the multi
  // interface fails.
  Status Start();
  Result<bool> Pump(CURLcode* result);
  Status Wait(std::chrono::milliseconds timeout);

  // The Status of a failed transfer (http/curl_status.h) with curl's message; a timeout
  // before the connection was made says so, naming the connect timeout.
  Status TransferError(CURLcode code, std::string_view what) const;
  // curl's message for the last transfer (the error buffer, or the code's generic text).
  std::string ErrorText(CURLcode code) const;
  long ResponseCode() const;
  CURL* easy() const { return easy_.get(); }

 private:
  CurlSession(CurlEasyPtr easy, CurlMultiPtr multi);
  void Detach();

  CurlEasyPtr easy_;
  CurlMultiPtr multi_;
  bool attached_ = false;
  std::chrono::seconds connect_timeout_{0};
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

}  // namespace mirrord
