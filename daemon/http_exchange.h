// The contract between mirrord's HTTP server and the handlers behind it (git smart HTTP,
// admin API, health, metrics, and later LFS and webhooks).
//
// The server reads the request header and body (up to the route's body limit, answering
// 413 beyond it), then calls the handler with an HttpExchange. The handler answers exactly
// once, either with Respond() or with BeginStream() + Write()* + EndStream(). A handler
// that returns without answering gets a 500. Handlers run on the connection's strand and
// must not block: blocking work goes through RunBlocking() (daemon/blocking.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual const HttpRequest& request() const = 0;
  // The request target's path, percent-decoded, without the query string.
  virtual const std::string& path() const = 0;
  // Decoded query parameters (last one wins for repeated keys).
  virtual const std::map<std::string, std::string>& query() const = 0;
  virtual boost::asio::any_io_executor executor() const = 0;
  // Peer address for logs, e.g. "127.0.0.1:53312".
  virtual const std::string& peer() const = 0;
  // The address and port the client connected to (not spoofable, unlike Host). Unspecified
  // (0.0.0.0:0) when unknown. (Not pure so that existing test fakes compile.)
  virtual boost::asio::ip::tcp::endpoint local_endpoint() const { return {}; }

  // Sends a complete response. Content-Length and Server are filled in if absent.
  virtual boost::asio::awaitable<void> Respond(HttpResponse response) = 0;

  // Sends the header of a streamed (chunked) response. Returns false if the client is gone.
  virtual boost::asio::awaitable<bool> BeginStream(http::response<http::empty_body> header) = 0;
  // Sends one chunk, waiting until the client has taken it (back-pressure). False: client gone.
  virtual boost::asio::awaitable<bool> Write(std::string_view data) = 0;
  // Ends the stream (last chunk).
  virtual boost::asio::awaitable<void> EndStream() = 0;
  // Like BeginStream, for a body of exactly `length` bytes known in advance: sent with
  // Content-Length, not chunked, so that the client sees the size and can tell a truncated
  // body. Write() then sends the bytes as they are; more than `length` in all is refused
  // (false); EndStream() after fewer closes the connection. For HEAD only the header goes
  // out. (Not pure so that existing test fakes compile; their default streams chunked.)
  virtual boost::asio::awaitable<bool> BeginSizedStream(http::response<http::empty_body> header,
                                                        uint64_t length) {
    (void)length;
    return BeginStream(std::move(header));
  }

  // Sends `length` bytes of the open file `fd` from `offset` as the body of `header` (whose
  // Content-Length is set to `length`), with sendfile(2) so the bytes do not pass through
  // user space. The caller keeps `fd` open until this completes. For HEAD only the header
  // goes out. False if the client went away or the file could not be read (the connection
  // is then closed: a short body must not look complete). Counts as the answer.
  virtual boost::asio::awaitable<bool> SendFile(http::response<http::empty_body> header, int fd,
                                                uint64_t offset, uint64_t length) = 0;

  // Gives up on a started stream: the connection is closed without the last chunk, so the
  // client sees a truncated response instead of a complete-looking one. Counts as the
  // answer; nothing may be sent afterwards. (Not pure so that existing test fakes compile.)
  virtual void Abort() {}
};

using HttpHandler = std::function<boost::asio::awaitable<void>(HttpExchange&)>;

// A request target split into its percent-decoded path and decoded query parameters.
struct RequestTarget {
  std::string path;
  std::map<std::string, std::string> query;
};

// Parses an origin-form target ("/a%20b/c?x=1&y"). InvalidArgument for anything else
// (absolute-form, "*", malformed percent-escapes). '+' in the query decodes to a space.
Result<RequestTarget> ParseRequestTarget(std::string_view target);

// A plain response with `body` and content type; the helper every handler uses for errors.
HttpResponse MakeResponse(const HttpRequest& request, http::status status, std::string body,
                          std::string_view content_type = "text/plain; charset=utf-8");

// The one translation of a failed Status into an HTTP answer, for handlers whose failure
// is the server's (or an upstream's), not the client's:
//   NotFound -> 404; PermissionDenied, Unavailable, DataLoss -> 502 (the upstream failed or
//   sent bad bytes); DeadlineExceeded -> 504; Cancelled -> 503 (shutting down);
//   ResourceExhausted (disk full: ENOSPC/EDQUOT/SQLITE_FULL, an upstream's rate limit, no
//   memory) -> 503 with Retry-After: the rate limit's wait when it carries one, else
//   kResourceExhaustedRetryAfter (git-lfs retries a 503 that says when; a 507 is final to
//   it, and a full disk is usually freed by an operator, not by the client); anything
//   else -> 500.
struct HttpError {
  http::status status = http::status::internal_server_error;
  std::optional<std::chrono::seconds> retry_after;
};
inline constexpr std::chrono::seconds kResourceExhaustedRetryAfter{60};
HttpError HttpErrorFor(const Status& status);

// MakeResponse with HttpErrorFor(status)'s code and its Retry-After header, if any.
HttpResponse MakeErrorResponse(const HttpRequest& request, const Status& status, std::string body,
                               std::string_view content_type = "text/plain; charset=utf-8");

}  // namespace mirrord
