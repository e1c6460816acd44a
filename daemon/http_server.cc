// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224);
// the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/http_server.h"

#include <sys/sendfile.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/log.h"

namespace mirrord {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr auto kMaxLinger = std::chrono::seconds(1);
constexpr size_t kMaxLoggedPath = 200;

// The path part of a raw target, made safe for one log line (no query: it may hold secrets).
std::string LoggablePath(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::string out;
  for (unsigned char c : target.substr(0, kMaxLoggedPath)) {
    if (c >= 0x21 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (target.size() > kMaxLoggedPath) out += "...";
  return out;
}

std::string PeerName(const tcp::socket& socket) {
  boost::system::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

}  // namespace

class Connection;

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(net::io_context& io_in, std::shared_ptr<const Router> router_in, HttpServerOptions opts)
      : io(io_in),
        strand(net::make_strand(io_in)),
        router(std::move(router_in)),
        options(std::move(opts)),
        stop_timer(strand) {}

  // False when stopping: the caller closes the socket instead.
  bool Register(uint64_t* id, const std::shared_ptr<Connection>& conn);
  void Unregister(uint64_t id);
  void BeginStop(std::chrono::milliseconds grace);
  net::awaitable<void> AcceptLoop(std::shared_ptr<tcp::acceptor> acceptor);

  net::io_context& io;
  net::strand<net::io_context::executor_type> strand;  // acceptors and the stop timer
  std::shared_ptr<const Router> router;
  HttpServerOptions options;
  net::steady_timer stop_timer;

  mutable std::mutex mu;
  bool stopping = false;                                      // guarded by mu
  uint64_t next_id = 1;                                       // guarded by mu
  std::map<uint64_t, std::weak_ptr<Connection>> connections;  // guarded by mu
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;      // guarded by mu
};

// The HttpExchange of one request on a connection. Lives on the connection's strand.
class ConnectionExchange final : public HttpExchange {
 public:
  ConnectionExchange(beast::tcp_stream& stream, const HttpServerOptions& options,
                     HttpRequest request, RequestTarget target, const std::string& peer,
                     bool keep_alive, const bool& stopping)
      : stream_(stream),
        options_(options),
        request_(std::move(request)),
        target_(std::move(target)),
        peer_(peer),
        keep_alive_(keep_alive),
        stopping_(stopping),
        head_(request_.method() == http::verb::head) {}

  const HttpRequest& request() const override { return request_; }
  const std::string& path() const override { return target_.path; }
  const std::map<std::string, std::string>& query() const override { return target_.query; }
  net::any_io_executor executor() const override { return stream_.get_executor(); }
  const std::string& peer() const override { return peer_; }

  net::awaitable<void> Respond(HttpResponse response) override {
    if (state_ != State::kNone) {
      MLOG(Error) << "http " << peer_ << ": handler answered twice; response dropped";
      co_return;
    }
    state_ = State::kDone;
    status_ = response.result_int();
    FillHeader(response);
    if (response.find(http::field::content_length) == response.end() && !response.chunked()) {
      response.content_length(response.body().size());
    }
    const bool keep_alive = response.keep_alive();
    stream_.expires_after(options_.write_timeout);
    if (head_) {
      http::response<http::empty_body> head(std::move(response.base()));
      auto [ec, n] = co_await http::async_write(stream_, head, kNoThrow);
      if (ec) broken_ = true;
    } else {
      auto [ec, n] = co_await http::async_write(stream_, response, kNoThrow);
      if (ec) {
        broken_ = true;
      } else {
        bytes_ = response.body().size();
      }
    }
    if (!keep_alive) broken_ = true;
  }

  net::awaitable<bool> BeginStream(http::response<http::empty_body> header) override {
    if (state_ != State::kNone) {
      MLOG(Error) << "http " << peer_ << ": handler answered twice; stream refused";
      co_return false;
    }
    state_ = State::kStreaming;
    status_ = header.result_int();
    FillHeader(header);
    header.erase(http::field::content_length);
    // HTTP/1.0 has no chunked encoding: the body is delimited by closing the connection.
    chunked_ = request_.version() >= 11;
    header.chunked(chunked_);
    if (!chunked_) {
      header.keep_alive(false);
      broken_ = true;
    }
    http::response_serializer<http::empty_body> serializer(header);
    stream_.expires_after(options_.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, kNoThrow);
    if (ec) {
      broken_ = true;
      write_failed_ = true;
      co_return false;
    }
    if (!header.keep_alive()) broken_ = true;  // no next request; this body still goes out
    co_return true;
  }

  net::awaitable<bool> Write(std::string_view data) override {
    if (state_ != State::kStreaming || write_failed_) co_return false;
    if (head_ || data.empty()) co_return true;  // an empty chunk would end the body
    stream_.expires_after(options_.write_timeout);
    boost::system::error_code ec;
    if (chunked_) {
      std::tie(ec, std::ignore) = co_await net::async_write(
          stream_, http::make_chunk(net::const_buffer(data.data(), data.size())), kNoThrow);
    } else {
      std::tie(ec, std::ignore) =
          co_await net::async_write(stream_, net::const_buffer(data.data(), data.size()), kNoThrow);
    }
    if (ec) {
      broken_ = true;
      write_failed_ = true;
      co_return false;
    }
    bytes_ += data.size();
    co_return true;
  }

  net::awaitable<void> EndStream() override {
    if (state_ != State::kStreaming) co_return;
    state_ = State::kDone;
    if (head_ || !chunked_ || write_failed_) co_return;
    stream_.expires_after(options_.write_timeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kNoThrow);
    if (ec) broken_ = true;
  }

  net::awaitable<bool> SendFile(http::response<http::empty_body> header, int fd, uint64_t offset,
                                uint64_t length) override {
    if (state_ != State::kNone) {
      MLOG(Error) << "http " << peer_ << ": handler answered twice; file response dropped";
      co_return false;
    }
    state_ = State::kDone;
    status_ = header.result_int();
    FillHeader(header);
    header.content_length(length);
    const bool keep_alive = header.keep_alive();
    http::response_serializer<http::empty_body> serializer(header);
    stream_.expires_after(options_.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, kNoThrow);
    if (ec) {
      broken_ = true;
      co_return false;
    }
    if (!keep_alive) broken_ = true;
    if (head_) co_return true;

    using namespace net::experimental::awaitable_operators;
    tcp::socket& socket = stream_.socket();
    boost::system::error_code nb_ec;
    socket.native_non_blocking(true, nb_ec);
    net::steady_timer timer(stream_.get_executor());
    off_t pos = static_cast<off_t>(offset);
    uint64_t left = length;
    while (left > 0) {
      constexpr uint64_t kMaxChunk = 8u << 20;
      ssize_t sent = ::sendfile(socket.native_handle(), fd, &pos, std::min(left, kMaxChunk));
      if (sent > 0) {
        left -= static_cast<uint64_t>(sent);
        bytes_ += static_cast<uint64_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Wait until the client takes more, at most write_timeout.
        timer.expires_after(options_.write_timeout);
        auto result = co_await (socket.async_wait(tcp::socket::wait_write, kNoThrow) ||
                                timer.async_wait(kNoThrow));
        if (result.index() == 0 && !std::get<0>(std::get<0>(result))) continue;
        MLOG(Warning) << "http " << peer_ << ": client took no file bytes for "
                      << options_.write_timeout.count() << "s; closing";
      } else {
        // sent == 0: the file is shorter than promised; or a socket/file error.
        MLOG(Warning) << "http " << peer_ << ": sendfile stopped with " << left
                      << " bytes left: " << (sent == 0 ? "end of file" : std::strerror(errno));
      }
      Abort();
      co_return false;
    }
    co_return true;
  }

  void Abort() override {
    state_ = State::kDone;
    broken_ = true;
    aborted_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  bool answered() const { return state_ == State::kDone; }
  bool streaming() const { return state_ == State::kStreaming; }
  // The connection cannot carry another request.
  bool broken() const { return broken_; }
  bool aborted() const { return aborted_; }
  unsigned status() const { return status_; }
  uint64_t bytes() const { return bytes_; }

 private:
  enum class State { kNone, kStreaming, kDone };

  template <typename Message>
  void FillHeader(Message& message) {
    message.version(request_.version());
    if (message.find(http::field::server) == message.end()) {
      message.set(http::field::server, options_.server_name);
    }
    message.keep_alive(keep_alive_ && !stopping_ && message.keep_alive());
  }

  beast::tcp_stream& stream_;
  const HttpServerOptions& options_;
  HttpRequest request_;
  RequestTarget target_;
  const std::string& peer_;
  bool keep_alive_;
  const bool& stopping_;  // the server is shutting down: no keep-alive
  bool head_;
  State state_ = State::kNone;
  bool chunked_ = true;
  bool broken_ = false;
  bool write_failed_ = false;
  bool aborted_ = false;
  unsigned status_ = 0;
  uint64_t bytes_ = 0;
};

// One client connection: a loop of requests on its own strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<HttpServer::State> state, tcp::socket socket)
      : state_(std::move(state)), peer_(PeerName(socket)), stream_(std::move(socket)) {}

  void set_id(uint64_t id) { id_ = id; }
  // The signal that Run() is spawned with; ForceClose() emits it.
  void set_cancel(std::weak_ptr<net::cancellation_signal> cancel) { cancel_ = std::move(cancel); }

  net::awaitable<void> Run() {
    auto self = shared_from_this();
    try {
      co_await Serve();
      if (linger_ && !force_closed_) co_await Linger();
    } catch (const std::exception& e) {
      MLOG(Warning) << "http " << peer_ << ": connection failed: " << e.what();
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
    state_->Unregister(id_);
  }

  // Thread-safe. Closes the connection now if it is between requests; otherwise it closes
  // after the current exchange.
  void RequestStop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      if (self->idle_) self->stream_.close();
    });
  }

  // Thread-safe. Closes the connection whatever it is doing, and cancels what its handler
  // awaits (the next co_await in it throws operation_aborted).
  void ForceClose() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      self->force_closed_ = true;
      self->stream_.close();
      if (auto cancel = self->cancel_.lock()) cancel->emit(net::cancellation_type::terminal);
    });
  }

 private:
  net::awaitable<void> Serve() {
    const HttpServerOptions& options = state_->options;
    for (;;) {
      if (stopping_) co_return;
      idle_ = true;
      http::request_parser<http::empty_body> header_parser;
      header_parser.header_limit(options.header_limit);
      header_parser.body_limit(std::numeric_limits<uint64_t>::max());  // the route's applies below
      stream_.expires_after(options.read_timeout);
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, header_parser, kNoThrow);
      idle_ = false;
      if (ec) {
        if (ec == http::error::header_limit) {
          co_await SendErrorAndClose(http::status::request_header_fields_too_large,
                                     "request header too large\n", "-", "-", Clock::now(), true);
        } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message) {
          co_await SendErrorAndClose(http::status::bad_request, "malformed request\n", "-", "-",
                                     Clock::now(), true);
        } else {
          MLOG(Debug) << "http " << peer_ << ": closing: " << ec.message();
        }
        co_return;
      }
      if (!co_await ServeOne(header_parser)) co_return;
    }
  }

  // Serves one request whose header has been read. False: close the connection.
  net::awaitable<bool> ServeOne(http::request_parser<http::empty_body>& header_parser) {
    const HttpServerOptions& options = state_->options;
    const auto start = Clock::now();
    auto& header = header_parser.get();
    const std::string method(header.method_string());
    const std::string log_path = LoggablePath(header.target());
    const bool has_body = header_parser.chunked() || header_parser.content_length().value_or(0) > 0;

    Result<RequestTarget> target = ParseRequestTarget(header.target());
    if (!target.ok()) {
      co_await SendErrorAndClose(http::status::bad_request, target.error().message() + "\n", method,
                                 log_path, start, has_body);
      co_return false;
    }
    // Keep the match alive until the handler completes: the handler may refer to it.
    RouteMatch match = state_->router->Match(header.method(), target->path);
    bool keep_alive = header.keep_alive() && !stopping_;

    HttpRequest request;
    if (!match.read_body) {
      if (has_body) {
        keep_alive = false;  // the unread body would be taken as the next request
        linger_ = true;
      }
      request = HttpRequest(std::move(header.base()));
    } else {
      boost::optional<uint64_t> length = header_parser.content_length();
      if (length && *length > match.body_limit) {
        if (match.on_body_too_large) match.on_body_too_large(header);
        co_await SendErrorAndClose(http::status::payload_too_large, "request body too large\n",
                                   method, log_path, start, true);
        co_return false;
      }
      if (has_body && beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont(http::status::continue_, header.version());
        stream_.expires_after(options.write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, cont, kNoThrow);
        if (ec) co_return false;
      }
      http::request_parser<http::string_body> body_parser(std::move(header_parser));
      body_parser.body_limit(match.body_limit);
      while (!body_parser.is_done()) {
        stream_.expires_after(options.read_timeout);
        auto [ec, n] = co_await http::async_read_some(stream_, buffer_, body_parser, kNoThrow);
        if (ec == http::error::body_limit) {
          if (match.on_body_too_large) match.on_body_too_large(body_parser.get());
          co_await SendErrorAndClose(http::status::payload_too_large, "request body too large\n",
                                     method, log_path, start, true);
          co_return false;
        }
        if (ec) {
          MLOG(Debug) << "http " << peer_ << ": reading body of " << method << " " << log_path
                      << ": " << ec.message();
          co_return false;
        }
      }
      request = body_parser.release();
    }

    ConnectionExchange exchange(stream_, options, std::move(request), std::move(*target), peer_,
                                keep_alive, stopping_);
    std::string failure;
    try {
      co_await match.handler(exchange);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (!failure.empty() && force_closed_) {
      MLOG(Warning) << "http " << peer_ << ": handler for " << method << " " << log_path
                    << " stopped by shutdown: " << failure;
      LogAccess(method, log_path, exchange.status(), exchange.bytes(), start, " (shutdown)");
      co_return false;  // the connection is being force-closed; nothing more can be sent
    } else if (!failure.empty()) {
      MLOG(Error) << "http " << peer_ << ": handler for " << method << " " << log_path
                  << " failed: " << failure;
    }
    if (exchange.streaming()) {
      if (failure.empty()) {
        MLOG(Error) << "http " << peer_ << ": handler for " << method << " " << log_path
                    << " left its stream open";
      }
      exchange.Abort();
    } else if (!exchange.answered()) {
      if (failure.empty()) {
        MLOG(Error) << "http " << peer_ << ": handler for " << method << " " << log_path
                    << " did not answer";
      }
      co_await exchange.Respond(MakeResponse(
          exchange.request(), http::status::internal_server_error, "internal server error\n"));
    }
    LogAccess(method, log_path, exchange.status(), exchange.bytes(), start,
              exchange.aborted() ? " (aborted)" : "");
    co_return !exchange.broken() && !stopping_;
  }

  // Answers a request the server rejected itself, then closes the connection. With
  // `unread_body`, the client may still be sending: drain a little first so that the
  // answer is not lost to a connection reset.
  net::awaitable<void> SendErrorAndClose(http::status status, std::string body,
                                         std::string_view method, std::string_view log_path,
                                         Clock::time_point start, bool unread_body = false) {
    HttpResponse res(status, 11);
    res.set(http::field::server, state_->options.server_name);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    stream_.expires_after(state_->options.write_timeout);
    auto [ec, n] = co_await http::async_write(stream_, res, kNoThrow);
    LogAccess(method, log_path, res.result_int(), ec ? 0 : res.body().size(), start, "");
    if (!ec && unread_body) co_await Linger();
  }

  // Closes our sending side, then reads and discards what the client still sends (briefly,
  // and only so much), so that closing does not reset the connection before the client has
  // read our answer.
  net::awaitable<void> Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    char scratch[16384];
    size_t drained = 0;
    const auto deadline = Clock::now() + kMaxLinger;
    while (drained < kMaxLingerBytes && Clock::now() < deadline) {
      stream_.expires_at(deadline);
      auto [rec, got] = co_await stream_.async_read_some(net::buffer(scratch), kNoThrow);
      if (rec) break;
      drained += got;
    }
  }

  void LogAccess(std::string_view method, std::string_view log_path, unsigned status,
                 uint64_t bytes, Clock::time_point start, std::string_view note) {
    auto duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    MLOG(Info) << "http " << peer_ << " " << method << " " << log_path << " " << status << " "
               << bytes << "B " << duration.count() / 1000 << "ms" << note;
    if (state_->options.on_request) {
      state_->options.on_request(HttpAccessRecord{method, log_path, status, bytes, duration});
    }
  }

  std::shared_ptr<HttpServer::State> state_;
  std::string peer_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  uint64_t id_ = 0;
  std::weak_ptr<net::cancellation_signal> cancel_;
  bool idle_ = true;           // waiting for a request header; strand only
  bool stopping_ = false;      // strand only
  bool force_closed_ = false;  // strand only
  bool linger_ = false;        // the last request's body was not read; strand only
};

bool HttpServer::State::Register(uint64_t* id, const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu);
  if (stopping) return false;
  *id = next_id++;
  connections.emplace(*id, conn);
  return true;
}

void HttpServer::State::Unregister(uint64_t id) {
  std::lock_guard lock(mu);
  connections.erase(id);
  if (stopping && connections.empty()) {
    net::post(strand, [self = shared_from_this()] { self->stop_timer.cancel(); });
  }
}

void HttpServer::State::BeginStop(std::chrono::milliseconds grace) {
  std::vector<std::shared_ptr<Connection>> open;
  std::vector<std::shared_ptr<tcp::acceptor>> listening;
  {
    std::lock_guard lock(mu);
    if (stopping) return;
    stopping = true;
    listening.swap(acceptors);
    for (auto& [id, weak] : connections) {
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
    }
  }
  net::post(strand, [listening] {
    for (auto& acceptor : listening) {
      beast::error_code ec;
      acceptor->close(ec);
    }
  });
  for (auto& conn : open) conn->RequestStop();
  if (open.empty()) return;
  net::post(strand, [self = shared_from_this(), grace] {
    {
      std::lock_guard lock(self->mu);
      if (self->connections.empty()) return;
    }
    self->stop_timer.expires_after(grace);
    self->stop_timer.async_wait([self](beast::error_code ec) {
      if (ec) return;  // every connection closed in time
      std::vector<std::shared_ptr<Connection>> remaining;
      {
        std::lock_guard lock(self->mu);
        for (auto& [id, weak] : self->connections) {
          if (auto conn = weak.lock()) remaining.push_back(std::move(conn));
        }
      }
      if (!remaining.empty()) {
        MLOG(Warning) << "http: closing " << remaining.size()
                      << " connection(s) still busy at the end of the shutdown grace period";
      }
      for (auto& conn : remaining) conn->ForceClose();
    });
  });
}

net::awaitable<void> HttpServer::State::AcceptLoop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(net::make_strand(io), kNoThrow);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      MLOG(Warning) << "http: accept failed: " << ec.message();
      net::steady_timer pause(strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    auto conn = std::make_shared<Connection>(self, std::move(socket));
    uint64_t id = 0;
    if (!Register(&id, conn)) co_return;  // stopping: conn's destructor closes the socket
    conn->set_id(id);
    // The completion handler owns the signal: it must outlive the coroutine's slot.
    auto cancel = std::make_shared<net::cancellation_signal>();
    conn->set_cancel(cancel);
    auto slot = cancel->slot();
    net::co_spawn(executor, conn->Run(),
                  net::bind_cancellation_slot(slot, [cancel](std::exception_ptr e) {
                    if (!e) return;
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                      MLOG(Error) << "http: connection coroutine failed: " << x.what();
                    } catch (...) {
                      MLOG(Error) << "http: connection coroutine failed";
                    }
                  }));
  }
}

HttpServer::HttpServer(net::io_context& io, std::shared_ptr<const Router> router,
                       HttpServerOptions options)
    : state_(std::make_shared<State>(io, std::move(router), std::move(options))) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

Result<tcp::endpoint> HttpServer::Listen(std::string_view host, uint16_t port) {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(std::string(host), ec);
  if (ec) {
    tcp::resolver resolver(state_->io);
    auto results =
        resolver.resolve(std::string(host), std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Unavailable("cannot resolve listen address \"" + std::string(host) +
                         "\": " + (ec ? ec.message() : std::string("no addresses")));
    }
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint wanted(address, port);
  auto acceptor = std::make_shared<tcp::acceptor>(state_->strand);
  auto fail = [&](std::string_view what) {
    return Unavailable("listen on " + std::string(host) + ":" + std::to_string(port) + ": " +
                       std::string(what) + ": " + ec.message());
  };
  acceptor->open(wanted.protocol(), ec);
  if (ec) return fail("open");
  acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  acceptor->bind(wanted, ec);
  if (ec) return fail("bind");
  acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  tcp::endpoint bound = acceptor->local_endpoint(ec);
  if (ec) return fail("getsockname");
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return Cancelled("server is stopping");
    state_->acceptors.push_back(acceptor);
  }
  net::co_spawn(state_->strand, state_->AcceptLoop(acceptor), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      MLOG(Error) << "http: accept loop failed: " << x.what();
    } catch (...) {
      MLOG(Error) << "http: accept loop failed";
    }
  });
  MLOG(Info) << "http: listening on " << bound.address().to_string() << ":" << bound.port();
  return bound;
}

void HttpServer::Stop(std::chrono::milliseconds grace) { state_->BeginStop(grace); }

size_t HttpServer::connection_count() const {
  std::lock_guard lock(state_->mu);
  return state_->connections.size();
}

}  // namespace mirrord
