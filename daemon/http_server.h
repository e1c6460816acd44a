// HttpServer: mirrord's HTTP/1.1 front door. Accepts connections on one io_context, runs
// each connection as a coroutine on its own strand, reads requests with per-read timeouts
// and a header-size limit, asks the Router for the handler and body limit, reads the body
// (413 beyond the limit, without reading the rest), and runs the handler with an
// HttpExchange (daemon/http_exchange.h). Keep-alive, HEAD, Expect: 100-continue and
// chunked streaming responses are handled here. One access-log line per request at info:
// method, path (never the query string), status, body bytes, milliseconds.
//
// Thread-safety: Listen() before the io_context runs or from any thread; Stop() and
// connection_count() from any thread. The Router must not change once serving starts.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "daemon/router.h"

namespace mirrord {

// What the access log records about one request (for metrics observers).
struct HttpAccessRecord {
  std::string_view method;
  std::string_view path;  // raw (percent-encoded) path without the query string
  unsigned status = 0;
  uint64_t bytes = 0;  // response body bytes sent
  std::chrono::microseconds duration{0};
};

struct HttpServerOptions {
  // Longest wait for any single read from a client (request header, each body read, and
  // an idle keep-alive connection's next request).
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  // Longest wait for a client to take one write (a response, or one streamed chunk).
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};
  // Largest request line + header fields; beyond it the client gets 431.
  uint32_t header_limit = 16 * 1024;
  std::string server_name = "mirrord";
  // Called on the connection's strand after each request; must not block.
  std::function<void(const HttpAccessRecord&)> on_request;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, std::shared_ptr<const Router> router,
             HttpServerOptions options = {});
  // Stops accepting and closes connections (Stop with no grace).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on host:port (port 0 picks a free port) and starts accepting once the
  // io_context runs. Returns the bound endpoint; Unavailable if the address is in use or
  // cannot be resolved. May be called more than once to listen on several addresses.
  Result<boost::asio::ip::tcp::endpoint> Listen(std::string_view host, uint16_t port);

  // Graceful shutdown, non-blocking: stops accepting, closes idle connections at once, lets
  // in-flight exchanges finish (their connections close afterwards), and closes whatever is
  // still open after `grace`. Once everything is closed the server holds no io_context work,
  // so io_context::run() can return. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  // Open client connections.
  size_t connection_count() const;

  struct State;  // implementation detail shared with the connections

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mirrord
