// HttpServer: mirrord's HTTP/1.1 front door. Accepts connections on one io_context, runs
// each connection as a coroutine on its own strand, reads requests with per-read timeouts
// and a header-size limit, asks the Router for the handler and body limit, reads the body
// (413 beyond the limit, without reading the rest), and runs the handler with an
// HttpExchange (daemon/http_exchange.h). Keep-alive, HEAD, Expect: 100-continue and
// chunked streaming responses are handled here. One access-log line per request at info:
// method, path (never the query string), status, body bytes, milliseconds.
//
// Every client is assumed hostile; what one can make the server hold is bounded:
//  - connections: at most max_connections in all and max_connections_per_client per client
//    (an IPv4 address, or an IPv6 /64: daemon/client_key.h). Over the per-client cap a newcomer
//    gets a best-effort 503 and is closed. At the total cap the accept loop backs off: it closes
//    the connection idle longest (keep-alive) or, failing that, the one whose request has been
//    arriving longest (slowloris), and otherwise leaves newcomers in the listen backlog until a
//    connection ends. Connections running a handler (a clone in progress) are never closed to make
//    room.
//  - time: a request (header and body) must arrive within request_timeout of its first
//    byte, and, once min_rate_grace has passed, at min_transfer_rate bytes/s on average at
//    least; each read also has read_timeout. A request cut for slowness is closed without
//    an answer (the client is not reading anyway).
//  - memory: a body is read only up to its route's limit, and bodies are buffered only
//    within body_memory_budget bytes across all connections (each request's first
//    kFreeBodyBytes are not counted, so small bodies such as git negotiation rounds are
//    never refused; their total is bounded by max_connections x kFreeBodyBytes). A request
//    whose body does not fit the budget gets 503 with Retry-After and the connection closes;
//    the client retries later (git-lfs honours Retry-After) instead of the server queueing
//    bodies it cannot hold.
//    File responses are sent without buffering (sendfile), except to a peer on this host,
//    which gets them copied through buffers held within copy_buffer_budget in all.
//  - framing (RFC 9112 6.1, 6.3): a Transfer-Encoding other than exactly "chunked" gets 501
//    (an unknown coding) or 400 (chunked twice, not last, on HTTP/1.0, or together with
//    Content-Length), and a malformed chunked body 400; the connection then closes, so a
//    body can never be taken for a next request.
//
// Thread-safety: Listen() before the io_context runs or from any thread; Stop() and
// connection_count() from any thread. The Router must not change once serving starts.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "daemon/router.h"

namespace mirrord {

// What the access log records about one request (for the audit log and metrics observers).
// The views are valid only during the on_request call.
struct HttpAccessRecord {
  std::string_view method;
  std::string_view path;  // raw (percent-encoded) path without the query string
  unsigned status = 0;
  uint64_t bytes = 0;  // response body bytes sent
  std::chrono::microseconds duration{0};
  std::chrono::system_clock::time_point time;  // when the request's first byte arrived
  std::string_view client;                     // the client's address ("127.0.0.1", "::1", "unix")
  std::string_view user_agent;                 // as sent, unbounded and unescaped; "" when absent
  std::string_view token_name;  // RequestAudit: "" when anonymous or not reached a handler
  std::string_view repo;        // RequestAudit: "" when none
};

// The TLS context for a new connection, asked once per accepted connection (so that a
// reloaded certificate applies to new connections only). Null: the connection is closed.
using TlsContextProvider = std::function<std::shared_ptr<boost::asio::ssl::context>()>;

// How one listener speaks.
struct ListenOptions {
  // Set: HTTPS (each connection starts with a TLS handshake); empty: plain HTTP.
  TlsContextProvider tls;
};

// Bytes of each request body not counted against body_memory_budget.
inline constexpr uint64_t kFreeBodyBytes = 64 * 1024;
// Largest buffer one file response to a peer on this host is copied through.
inline constexpr uint64_t kCopyBufferBytes = 4u << 20;

struct HttpServerOptions {
  // Longest wait for any single read from a client (request header, each body read, and
  // an idle keep-alive connection's next request).
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  // Whole-request deadline: header and body must have arrived this long after the request's
  // first byte. Handlers (a clone's pack) are not limited by it.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // Average bytes/s below which a request still arriving is cut, once min_rate_grace has
  // passed since its first byte. 0: no minimum.
  uint64_t min_transfer_rate = 1024;
  std::chrono::milliseconds min_rate_grace{std::chrono::seconds(10)};
  // Open client connections at most, in all and per client IP address.
  size_t max_connections = 1024;
  size_t max_connections_per_client = 128;
  // Request body bytes buffered at once across all connections (beyond each request's
  // kFreeBodyBytes).
  uint64_t body_memory_budget = 256ull << 20;
  // File bytes (HttpExchange::SendFile/SendPieces) go to a client on another host by
  // sendfile(2). To a peer on this host (loopback, Unix socket) they are copied through a
  // buffer of up to kCopyBufferBytes per response instead, as long as all such buffers fit
  // within this many bytes; past it, sendfile. 0: always sendfile.
  uint64_t copy_buffer_budget = 64ull << 20;
  // Longest wait for a client to take one write (a response, or one streamed chunk).
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};
  // Longest a TLS handshake may take (it also counts as a request arriving: request_timeout
  // and min_transfer_rate apply, and the connection can be evicted at the cap).
  std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};
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
  // With `options.tls` the listener speaks HTTPS only: a client that does not complete a TLS
  // handshake is closed without an answer.
  Result<boost::asio::ip::tcp::endpoint> Listen(std::string_view host, uint16_t port,
                                                ListenOptions options = {});
  // Listens on a Unix socket at `path` (a stale socket file there is replaced; any other
  // file makes it fail with Unavailable). Its clients share one per-client cap ("unix").
  // Plain HTTP only (InvalidArgument with options.tls): the socket file's permissions guard it.
  Status ListenUnix(const std::filesystem::path& path, ListenOptions options = {});

  // Graceful shutdown, non-blocking: stops accepting, closes idle connections at once, lets
  // in-flight exchanges finish (their connections close afterwards), and closes whatever is
  // still open after `grace`. Once everything is closed the server holds no io_context work,
  // so io_context::run() can return. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  // Open client connections.
  size_t connection_count() const;
  // Body bytes currently counted against body_memory_budget.
  uint64_t body_bytes_reserved() const;
  // Bytes currently held in copy buffers of file responses (within copy_buffer_budget).
  uint64_t copy_buffer_bytes_held() const;

  struct State;  // implementation detail shared with the connections

 private:
  template <typename Protocol>
  Status StartAccepting(std::shared_ptr<typename Protocol::acceptor> acceptor,
                        TlsContextProvider tls);

  std::shared_ptr<State> state_;
};

// Raises RLIMIT_NOFILE's soft limit to its hard limit and returns the new soft limit (the
// old one if it cannot be raised). Call once at start, before threads open files.
uint64_t RaiseOpenFileLimit();

// The connection cap that `open_file_limit` descriptors allow: `wanted`, lowered so that
// kReservedFds stay for the catalog, the store and syncs and each connection may use up to
// kFdsPerConnection while served (its socket, the file it sends, upload-pack's pipes), so
// that accept never takes the last descriptors. At least 1.
inline constexpr uint64_t kReservedFds = 256;
inline constexpr uint64_t kFdsPerConnection = 4;
size_t ConnectionCapForFdLimit(uint64_t open_file_limit, size_t wanted);

}  // namespace mirrord
