// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224);
// the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// One file over 500 lines on purpose: the connection loop (class Connection: reading,
// framing, limits, the HttpExchange it lends handlers) and the server state it registers
// with (State: accept loop, caps, eviction, shutdown) share State's private members; split
// apart, State would have to become a public header for the one class that uses it.
#include "daemon/http_server.h"

#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/log.h"
#include "common/page_buffer.h"
#include "daemon/client_key.h"

namespace mirrord {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
// net::async_write's own completion conditions cap each write_some at 64 KiB
// (default_max_transfer_size): one socket write and one reactor round trip per 64 KiB. This
// one hands the stream everything left, so a 1 MiB piece goes out in as few writes as the
// socket buffer allows.
constexpr auto kWriteAllAtOnce = [](const boost::system::error_code& ec,
                                    std::size_t) -> std::size_t {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
};
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr auto kMaxLinger = std::chrono::seconds(1);
constexpr size_t kMaxLoggedPath = 200;
// User-Agent bytes kept per request for the access log (the log line bounds it further).
constexpr size_t kMaxKeptUserAgent = 1024;

// The address part of a PeerName ("[::1]:5000" -> "::1", "10.0.0.1:5000" -> "10.0.0.1").
std::string_view ClientAddress(std::string_view peer) {
  if (peer.starts_with('[')) {
    size_t close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

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

template <typename Socket>
std::string PeerName(const Socket& socket) {
  boost::system::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  std::string addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

// The streams a connection runs over: TCP or a Unix socket, each plain or TLS.
using UnixStream = beast::basic_stream<net::local::stream_protocol>;
template <typename Stream>
inline constexpr bool kIsTls = false;
template <typename Next>
inline constexpr bool kIsTls<beast::ssl_stream<Next>> = true;
template <typename Stream>
using LowestLayer =
    std::remove_reference_t<decltype(beast::get_lowest_layer(std::declval<Stream&>()))>;

}  // namespace

// What the accept loop and shutdown need of a connection, whatever stream it runs over.
class ConnectionBase {
 public:
  // Where a connection is, for the accept loop's choice of whom to close at the cap.
  enum class Phase : int { kIdle, kReceiving, kHandling };
  virtual ~ConnectionBase() = default;
  // Thread-safe: what the connection is doing and since when.
  Phase phase() const { return static_cast<Phase>(phase_.load()); }
  Clock::time_point phase_since() const {
    return Clock::time_point(Clock::duration(phase_since_.load()));
  }
  virtual void RequestStop() = 0;
  virtual void Evict() = 0;
  virtual void ForceClose() = 0;

 protected:
  void SetPhase(Phase p) {
    phase_since_.store(Clock::now().time_since_epoch().count());
    phase_.store(static_cast<int>(p));
  }

 private:
  std::atomic<int> phase_{static_cast<int>(Phase::kIdle)};
  std::atomic<Clock::rep> phase_since_{Clock::now().time_since_epoch().count()};
};

template <typename Stream>
class Connection;

// Bytes held in memory across all connections against a limit: request bodies
// (body_memory_budget) and the buffers of copied file responses (copy_buffer_budget).
// Thread-safe.
class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  bool TryReserve(uint64_t n) {
    uint64_t used = used_.load();
    do {
      if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n));
    return true;
  }
  void Release(uint64_t n) { used_.fetch_sub(n); }
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// Bytes held of a ByteBudget; released on destruction.
class ByteReservation {
 public:
  explicit ByteReservation(ByteBudget& budget) : budget_(budget) {}
  ~ByteReservation() {
    if (held_ > 0) budget_.Release(held_);
  }
  ByteReservation(const ByteReservation&) = delete;
  ByteReservation& operator=(const ByteReservation&) = delete;

  // Holds `n` bytes more. False: over budget (unchanged).
  bool Reserve(uint64_t n) {
    if (!budget_.TryReserve(n)) return false;
    held_ += n;
    return true;
  }
  uint64_t bytes() const { return held_; }

 private:
  ByteBudget& budget_;
  uint64_t held_ = 0;
};

// What one request's body holds of the budget; released on destruction.
class BodyReservation {
 public:
  explicit BodyReservation(ByteBudget& budget) : held_(budget) {}

  // Makes the reservation cover a body of `total` bytes. False: over budget (unchanged).
  bool CoverBody(uint64_t total) {
    const uint64_t need = total > kFreeBodyBytes ? total - kFreeBodyBytes : 0;
    return need <= held_.bytes() || held_.Reserve(need - held_.bytes());
  }

 private:
  ByteReservation held_;
};

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(net::io_context& io_in, std::shared_ptr<const Router> router_in, HttpServerOptions opts)
      : io(io_in),
        strand(net::make_strand(io_in)),
        router(std::move(router_in)),
        options(std::move(opts)),
        stop_timer(strand),
        slot_timer(strand, net::steady_timer::time_point::max()),
        body_budget(options.body_memory_budget),
        copy_buffer_budget(options.copy_buffer_budget) {}

  enum class Admission { kAdmitted, kStopping, kClientOverCap };
  Admission Register(uint64_t* id, const std::shared_ptr<ConnectionBase>& conn,
                     const std::string& client);
  void Unregister(uint64_t id, const std::string& client);
  void BeginStop(std::chrono::milliseconds grace);
  // At the total cap: closes the connection idle longest, else the one whose request has
  // been arriving longest. False if every connection is running a handler.
  bool EvictOne();
  bool AtCap() const {
    std::lock_guard lock(mu);
    return connections.size() >= options.max_connections;
  }
  // Accepts on `acceptor` (TCP or Unix); `tls` set: each connection starts with a TLS
  // handshake using the context it returns at that moment.
  template <typename Protocol>
  net::awaitable<void> AcceptLoop(std::shared_ptr<typename Protocol::acceptor> acceptor,
                                  TlsContextProvider tls);

  net::io_context& io;
  net::strand<net::io_context::executor_type> strand;  // acceptors and the timers
  std::shared_ptr<const Router> router;
  HttpServerOptions options;
  net::steady_timer stop_timer;
  net::steady_timer slot_timer;  // cancelled when a connection ends (accept back-off)
  ByteBudget body_budget;
  ByteBudget copy_buffer_budget;

  mutable std::mutex mu;
  bool stopping = false;                                          // guarded by mu
  uint64_t next_id = 1;                                           // guarded by mu
  std::map<uint64_t, std::weak_ptr<ConnectionBase>> connections;  // guarded by mu
  std::map<std::string, size_t> per_client;                       // guarded by mu
  std::vector<std::function<void()>> acceptor_closers;            // guarded by mu; strand only
};

// The HttpExchange of one request on a connection. Lives on the connection's strand.
template <typename Stream>
class ConnectionExchange final : public HttpExchange {
 public:
  ConnectionExchange(Stream& stream, const HttpServerOptions& options, HttpRequest request,
                     RequestTarget target, const std::string& peer, bool keep_alive,
                     const bool& stopping, ByteBudget& copy_buffer_budget)
      : stream_(stream),
        options_(options),
        request_(std::move(request)),
        target_(std::move(target)),
        peer_(peer),
        keep_alive_(keep_alive),
        stopping_(stopping),
        copy_buffer_budget_(copy_buffer_budget),
        head_(request_.method() == http::verb::head) {}

  const HttpRequest& request() const override { return request_; }
  const std::string& path() const override { return target_.path; }
  const std::map<std::string, std::string>& query() const override { return target_.query; }
  net::any_io_executor executor() const override { return stream_.get_executor(); }
  const std::string& peer() const override { return peer_; }
  bool secure() const override { return kIsTls<Stream>; }
  tcp::endpoint local_endpoint() const override {
    if constexpr (std::is_same_v<typename LowestLayer<Stream>::protocol_type, tcp>) {
      boost::system::error_code ec;
      tcp::endpoint ep = beast::get_lowest_layer(stream_).socket().local_endpoint(ec);
      return ec ? tcp::endpoint() : ep;
    } else {
      return {};
    }
  }

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
    Lowest().expires_after(options_.write_timeout);
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
    co_return co_await StartStream(std::move(header), std::nullopt);
  }

  net::awaitable<bool> BeginSizedStream(http::response<http::empty_body> header,
                                        uint64_t length) override {
    co_return co_await StartStream(std::move(header), length);
  }

  net::awaitable<bool> Write(std::string_view data) override {
    if (state_ != State::kStreaming || write_failed_) co_return false;
    if (head_ || data.empty()) co_return true;  // an empty chunk would end the body
    if (sized_ && data.size() > *sized_ - bytes_) {
      MLOG(Error) << "http " << peer_ << ": handler wrote past its Content-Length";
      co_return false;
    }
    Lowest().expires_after(options_.write_timeout);
    boost::system::error_code ec;
    if (chunked_) {
      std::tie(ec, std::ignore) = co_await net::async_write(
          stream_, http::make_chunk(net::const_buffer(data.data(), data.size())), kWriteAllAtOnce,
          kNoThrow);
    } else {
      std::tie(ec, std::ignore) = co_await net::async_write(
          stream_, net::const_buffer(data.data(), data.size()), kWriteAllAtOnce, kNoThrow);
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
    if (sized_ && !head_ && !write_failed_ && bytes_ != *sized_) {
      MLOG(Warning) << "http " << peer_ << ": body ended " << *sized_ - bytes_
                    << " bytes short of its Content-Length; closing";
      Abort();
      co_return;
    }
    state_ = State::kDone;
    if (head_ || !chunked_ || write_failed_) co_return;
    Lowest().expires_after(options_.write_timeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kNoThrow);
    if (ec) broken_ = true;
  }

  net::awaitable<bool> SendFile(http::response<http::empty_body> header, int fd, uint64_t offset,
                                uint64_t length) override {
    std::vector<BodyPiece> pieces(1);
    pieces[0].fd = fd;
    pieces[0].offset = offset;
    pieces[0].length = length;
    co_return co_await SendPieces(std::move(header), std::move(pieces));
  }

  net::awaitable<bool> SendPieces(http::response<http::empty_body> header,
                                  std::vector<BodyPiece> pieces) override {
    if (state_ != State::kNone) {
      MLOG(Error) << "http " << peer_ << ": handler answered twice; file response dropped";
      co_return false;
    }
    state_ = State::kDone;
    status_ = header.result_int();
    FillHeader(header);
    uint64_t length = 0;
    for (const BodyPiece& p : pieces) length += p.length;
    header.content_length(length);
    const bool keep_alive = header.keep_alive();
    http::response_serializer<http::empty_body> serializer(header);
    Lowest().expires_after(options_.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, kNoThrow);
    if (ec) {
      broken_ = true;
      co_return false;
    }
    if (!keep_alive) broken_ = true;
    if (head_) co_return true;
    for (const BodyPiece& p : pieces) {
      if (p.length == 0) continue;
      bool sent = false;
      if (p.fd < 0) {
        if (p.bytes.size() != p.length) {
          MLOG(Error) << "http " << peer_ << ": a body piece's bytes do not match its length";
        } else {
          Lowest().expires_after(options_.write_timeout);
          auto [wec, wn] =
              co_await net::async_write(stream_, net::const_buffer(p.bytes.data(), p.bytes.size()),
                                        kWriteAllAtOnce, kNoThrow);
          sent = !wec;
          if (sent) bytes_ += p.length;
        }
      } else {
        sent = co_await SendFileRange(p.fd, p.offset, p.length);
      }
      if (!sent) {
        Abort();
        co_return false;
      }
    }
    co_return true;
  }

  void Abort() override {
    state_ = State::kDone;
    broken_ = true;
    aborted_ = true;
    beast::error_code ec;
    Lowest().socket().shutdown(net::socket_base::shutdown_both, ec);
    Lowest().close();
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

  LowestLayer<Stream>& Lowest() { return beast::get_lowest_layer(stream_); }

  // Sends [offset, offset + length) of `fd`, waiting for the socket at most write_timeout
  // at a time. False when the client went away or took nothing for that long, or the file
  // ended early or failed (logged). Over TLS the bytes must pass through user space to be
  // encrypted: read and written in pieces. Otherwise sendfile(2), except to a peer on this
  // host (loopback, Unix socket): there is no NIC to hand the page-cache pages to, the
  // kernel copies them into the peer's socket anyway, and the page-sized pieces sendfile
  // queues cost both sides more CPU than a copy through a 4 MiB buffer (BENCHMARKS.md,
  // "Build stage"). Those buffers are held within copy_buffer_budget, so many slow readers
  // (behind a local proxy, say) cannot make the server hold more: past it, sendfile.
  net::awaitable<bool> SendFileRange(int fd, uint64_t offset, uint64_t length) {
    if constexpr (kIsTls<Stream>) {
      co_return co_await CopyFileRange(fd, offset, length);
    } else {
      ByteReservation buffer(copy_buffer_budget_);
      if (PeerOnThisHost() && buffer.Reserve(std::min<uint64_t>(length, kCopyBufferBytes))) {
        co_return co_await SendFileRangeDirect(fd, offset, length, buffer.bytes());
      }
      co_return co_await SendFileRangeDirect(fd, offset, length, 0);
    }
  }

  bool PeerOnThisHost() {
    if constexpr (std::is_same_v<typename LowestLayer<Stream>::protocol_type, tcp>) {
      boost::system::error_code ec;
      const tcp::endpoint ep = Lowest().socket().remote_endpoint(ec);
      if (ec) return false;
      const net::ip::address a = ep.address();
      if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
      }
      return a.is_loopback();
    } else {
      return true;  // a Unix socket
    }
  }

  // pread of up to `want` bytes of `fd` at `pos`, retried on EINTR. > 0: the bytes read.
  // -1 when the file ended or the read failed, logged with the `left` bytes still owed.
  ssize_t ReadFilePiece(int fd, char* into, size_t want, off_t pos, uint64_t left) {
    for (;;) {
      const ssize_t got = ::pread(fd, into, want, pos);
      if (got > 0) return got;
      if (got < 0 && errno == EINTR) continue;
      MLOG(Warning) << "http " << peer_ << ": file read stopped with " << left
                    << " bytes left: " << (got == 0 ? "end of file" : std::strerror(errno));
      return -1;
    }
  }

  net::awaitable<bool> CopyFileRange(int fd, uint64_t offset, uint64_t length) {
    constexpr size_t kPiece = 256 * 1024;
    std::vector<char> piece(static_cast<size_t>(std::min<uint64_t>(length, kPiece)));
    uint64_t pos = offset;
    uint64_t left = length;
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, piece.size()));
      const ssize_t got = ReadFilePiece(fd, piece.data(), want, static_cast<off_t>(pos), left);
      if (got < 0) co_return false;
      Lowest().expires_after(options_.write_timeout);
      auto [ec, n] = co_await net::async_write(
          stream_, net::const_buffer(piece.data(), static_cast<size_t>(got)), kWriteAllAtOnce,
          kNoThrow);
      if (ec) co_return false;
      pos += static_cast<uint64_t>(got);
      left -= static_cast<uint64_t>(got);
      bytes_ += static_cast<uint64_t>(got);
    }
    co_return true;
  }

  // Sends [offset, offset + length) of `fd` straight on the socket: by sendfile(2), or with
  // `copy_buffer` > 0 through a PageBuffer of that many bytes (pread, then send). Either way it
  // waits for the socket at most write_timeout at a time, so a slow reader is cut only when
  // it takes nothing for that long.
  net::awaitable<bool> SendFileRangeDirect(int fd, uint64_t offset, uint64_t length,
                                           uint64_t copy_buffer) {
    using namespace net::experimental::awaitable_operators;
    constexpr uint64_t kMaxChunk = 8u << 20;              // per sendfile call
    PageBuffer buffer(static_cast<size_t>(copy_buffer));  // unmapped on return: nothing kept
    const bool copy = buffer.valid();                     // else (or no mapping) sendfile
    auto& socket = Lowest().socket();
    boost::system::error_code nb_ec;
    socket.native_non_blocking(true, nb_ec);
    net::steady_timer timer(stream_.get_executor());
    off_t pos = static_cast<off_t>(offset);  // next file byte to send (sendfile) or read (copy)
    uint64_t left = length;                  // bytes not yet on the socket
    size_t buffered_begin = 0, buffered_end = 0;  // copy: read, not yet sent
    while (left > 0) {
      ssize_t sent;
      if (!copy) {
        sent = ::sendfile(socket.native_handle(), fd, &pos, std::min(left, kMaxChunk));
      } else {
        if (buffered_begin == buffered_end) {
          const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
          const ssize_t got = ReadFilePiece(fd, buffer.data(), want, pos, left);
          if (got < 0) co_return false;
          pos += got;
          buffered_begin = 0;
          buffered_end = static_cast<size_t>(got);
        }
        sent = ::send(socket.native_handle(), buffer.data() + buffered_begin,
                      buffered_end - buffered_begin, MSG_NOSIGNAL);
        if (sent > 0) buffered_begin += static_cast<size_t>(sent);
      }
      if (sent > 0) {
        left -= static_cast<uint64_t>(sent);
        bytes_ += static_cast<uint64_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Wait until the client takes more, at most write_timeout.
        timer.expires_after(options_.write_timeout);
        auto result = co_await (socket.async_wait(net::socket_base::wait_write, kNoThrow) ||
                                timer.async_wait(kNoThrow));
        if (result.index() == 0 && !std::get<0>(std::get<0>(result))) continue;
        MLOG(Warning) << "http " << peer_ << ": client took no file bytes for "
                      << options_.write_timeout.count() << "s; closing";
      } else {
        // sent == 0: the file is shorter than promised; or a socket/file error.
        MLOG(Warning) << "http " << peer_ << ": " << (copy ? "send" : "sendfile")
                      << " stopped with " << left
                      << " bytes left: " << (sent == 0 ? "end of file" : std::strerror(errno));
      }
      co_return false;
    }
    co_return true;
  }

  // BeginStream (`length` nullopt: chunked) and BeginSizedStream (raw, Content-Length).
  net::awaitable<bool> StartStream(http::response<http::empty_body> header,
                                   std::optional<uint64_t> length) {
    if (state_ != State::kNone) {
      MLOG(Error) << "http " << peer_ << ": handler answered twice; stream refused";
      co_return false;
    }
    state_ = State::kStreaming;
    status_ = header.result_int();
    FillHeader(header);
    if (length) {
      header.chunked(false);
      header.content_length(*length);
      chunked_ = false;
      sized_ = length;
    } else {
      header.erase(http::field::content_length);
      // HTTP/1.0 has no chunked encoding: the body is delimited by closing the connection.
      chunked_ = request_.version() >= 11;
      header.chunked(chunked_);
      if (!chunked_) {
        header.keep_alive(false);
        broken_ = true;
      }
    }
    http::response_serializer<http::empty_body> serializer(header);
    Lowest().expires_after(options_.write_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, kNoThrow);
    if (ec) {
      broken_ = true;
      write_failed_ = true;
      co_return false;
    }
    if (!header.keep_alive()) broken_ = true;  // no next request; this body still goes out
    co_return true;
  }

  template <typename Message>
  void FillHeader(Message& message) {
    message.version(request_.version());
    if (message.find(http::field::server) == message.end()) {
      message.set(http::field::server, options_.server_name);
    }
    message.keep_alive(keep_alive_ && !stopping_ && message.keep_alive());
  }

  Stream& stream_;
  const HttpServerOptions& options_;
  HttpRequest request_;
  RequestTarget target_;
  const std::string& peer_;
  bool keep_alive_;
  const bool& stopping_;  // the server is shutting down: no keep-alive
  ByteBudget& copy_buffer_budget_;
  bool head_;
  State state_ = State::kNone;
  bool chunked_ = true;
  std::optional<uint64_t> sized_;  // BeginSizedStream's length
  bool broken_ = false;
  bool write_failed_ = false;
  bool aborted_ = false;
  unsigned status_ = 0;
  uint64_t bytes_ = 0;
};

// One client connection: a loop of requests on its own strand, over `Stream` (plain or
// TLS, TCP or a Unix socket).
template <typename Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  // `tls`: the context a TLS stream's handshake uses (unused for a plain stream).
  template <typename Socket>
  Connection(std::shared_ptr<HttpServer::State> state, Socket socket, std::string peer,
             std::string client, std::shared_ptr<net::ssl::context> tls)
      : state_(std::move(state)),
        peer_(std::move(peer)),
        client_(std::move(client)),
        tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        buffer_(state_->options.header_limit + kReadChunk) {}

  void set_id(uint64_t id) { id_ = id; }
  // The signal that Run() is spawned with; ForceClose() emits it.
  void set_cancel(std::weak_ptr<net::cancellation_signal> cancel) { cancel_ = std::move(cancel); }

  net::awaitable<void> Run() {
    auto self = this->shared_from_this();
    try {
      if (co_await Handshake()) co_await Serve();
      if (linger_ && !force_closed_) co_await Linger();
    } catch (const std::exception& e) {
      MLOG(Warning) << "http " << peer_ << ": connection failed: " << e.what();
    }
    beast::error_code ec;
    Lowest().socket().shutdown(net::socket_base::shutdown_send, ec);
    Lowest().close();
    state_->Unregister(id_, client_);
  }

  // Thread-safe. Closes the connection now if it is between requests; otherwise it closes
  // after the current exchange.
  void RequestStop() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stopping_ = true;
      if (self->idle_) self->Lowest().close();
    });
  }

  // Thread-safe. Closes the connection if it is still idle or receiving a request (never
  // one running a handler): the accept loop makes room for a newcomer.
  void Evict() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->phase() == Phase::kHandling) return;
      MLOG(Info) << "http " << self->peer_ << ": closed to make room for a new connection ("
                 << (self->phase() == Phase::kIdle ? "idle" : "request still arriving") << ")";
      self->stopping_ = true;
      self->Lowest().close();
    });
  }

  // Thread-safe. Closes the connection whatever it is doing, and cancels what its handler
  // awaits (the next co_await in it throws operation_aborted).
  void ForceClose() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stopping_ = true;
      self->force_closed_ = true;
      self->Lowest().close();
      if (auto cancel = self->cancel_.lock()) cancel->emit(net::cancellation_type::terminal);
    });
  }

 private:
  static constexpr size_t kReadChunk = 64 * 1024;

  template <typename Socket>
  static Stream MakeStream(Socket&& socket, net::ssl::context* tls) {
    if constexpr (kIsTls<Stream>) {
      return Stream(std::move(socket), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }

  LowestLayer<Stream>& Lowest() { return beast::get_lowest_layer(stream_); }

  // The TLS handshake (nothing for a plain stream). It counts as a request arriving: the
  // connection can be evicted at the cap meanwhile, and it must finish within
  // tls_handshake_timeout, within the request deadline and at the minimum transfer rate.
  // False: the handshake failed (a client speaking plain HTTP to the TLS port, a timeout);
  // the connection closes without an answer.
  net::awaitable<bool> Handshake() {
    if constexpr (!kIsTls<Stream>) {
      co_return true;
    } else {
      idle_ = false;
      SetPhase(Phase::kReceiving);
      request_start_ = Clock::now();
      request_bytes_ = 0;
      const char* reason = "";
      Clock::time_point limit = ReadLimit(&reason);
      const Clock::time_point own = request_start_ + state_->options.tls_handshake_timeout;
      if (own < limit) {
        limit = own;
        reason = "TLS handshake timeout";
      }
      Lowest().expires_at(limit);
      auto [ec] = co_await stream_.async_handshake(net::ssl::stream_base::server, kNoThrow);
      if (ec) {
        MLOG(Info) << "http " << peer_ << ": TLS handshake failed: "
                   << (ec == beast::error::timeout ? std::string(reason) : ec.message());
        co_return false;
      }
      co_return true;
    }
  }

  // How long the request now arriving may take to deliver its next bytes: the request
  // deadline, the minimum rate's allowance for what has arrived so far, and read_timeout.
  Clock::time_point ReadLimit(const char** reason) const {
    const HttpServerOptions& o = state_->options;
    Clock::time_point limit = request_start_ + o.request_timeout;
    *reason = "request deadline";
    if (o.min_transfer_rate > 0) {
      auto earned = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          static_cast<double>(request_bytes_) / static_cast<double>(o.min_transfer_rate)));
      Clock::time_point by_rate =
          request_start_ + std::max<Clock::duration>(o.min_rate_grace, earned);
      if (by_rate < limit) {
        limit = by_rate;
        *reason = "below the minimum transfer rate";
      }
    }
    Clock::time_point idle = Clock::now() + o.read_timeout;
    if (idle < limit) {
      limit = idle;
      *reason = "read timeout";
    }
    return limit;
  }

  // Reads more of the request into buffer_. An error (timeout included) means the
  // connection must close; it has been logged.
  net::awaitable<beast::error_code> ReadMore() {
    if (buffer_.size() >= buffer_.max_size()) co_return http::error::buffer_overflow;
    const char* reason = "";
    Lowest().expires_at(ReadLimit(&reason));
    auto [ec, got] = co_await stream_.async_read_some(
        buffer_.prepare(std::min(kReadChunk, buffer_.max_size() - buffer_.size())), kNoThrow);
    buffer_.commit(got);
    request_bytes_ += got;
    if (ec == beast::error::timeout) {
      MLOG(Info) << "http " << peer_ << ": request cut after " << request_bytes_ << " bytes in "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                          request_start_)
                        .count()
                 << "ms: " << reason;
    } else if (ec) {
      MLOG(Debug) << "http " << peer_ << ": closing: " << ec.message();
    }
    co_return ec;
  }

  net::awaitable<void> Serve() {
    const HttpServerOptions& options = state_->options;
    for (;;) {
      if (stopping_) co_return;
      idle_ = true;
      SetPhase(Phase::kIdle);
      if (buffer_.size() == 0) {
        // Between requests only read_timeout applies; the request's clock starts with its
        // first byte.
        Lowest().expires_after(options.read_timeout);
        auto [ec, got] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kNoThrow);
        buffer_.commit(got);
        if (ec) {
          MLOG(Debug) << "http " << peer_ << ": closing: " << ec.message();
          co_return;
        }
      }
      idle_ = false;
      SetPhase(Phase::kReceiving);
      request_start_ = Clock::now();
      request_wall_ = std::chrono::system_clock::now();
      request_bytes_ = buffer_.size();
      user_agent_.clear();
      audit_ = RequestAudit{};

      http::request_parser<http::empty_body> header_parser;
      header_parser.header_limit(options.header_limit);
      header_parser.body_limit(std::numeric_limits<uint64_t>::max());  // the route's applies below
      for (;;) {
        beast::error_code ec;
        if (buffer_.size() > 0) {
          size_t used = header_parser.put(buffer_.data(), ec);
          buffer_.consume(used);
          if (header_parser.is_header_done()) break;
          if (ec == http::error::header_limit) {
            co_await SendErrorAndClose(http::status::request_header_fields_too_large,
                                       "request header too large\n", "-", "-", request_start_,
                                       true);
            co_return;
          }
          if (ec && ec != http::error::need_more) {
            co_await SendErrorAndClose(http::status::bad_request, "malformed request\n", "-", "-",
                                       request_start_, true);
            co_return;
          }
          if (!ec && used > 0) continue;
        }
        ec = co_await ReadMore();
        if (ec == http::error::buffer_overflow) {
          co_await SendErrorAndClose(http::status::request_header_fields_too_large,
                                     "request header too large\n", "-", "-", request_start_, true);
        }
        if (ec) co_return;
      }
      if (!co_await ServeOne(header_parser)) co_return;
    }
  }

  // RFC 9112 6.1 and 6.3: the framing mirrord accepts. nullopt: fine; else the answer.
  static std::optional<std::pair<http::status, std::string>> FramingError(
      const http::request_header<>& header) {
    std::vector<std::string> codings;
    auto [first, last] = header.equal_range(http::field::transfer_encoding);
    for (auto field = first; field != last; ++field) {
      std::string_view value = field->value();
      while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
          item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        std::string lower;
        for (char c : item) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        codings.push_back(std::move(lower));  // empty items too: "chunked," is not "chunked"
      }
      if (field->value().empty()) codings.emplace_back();
    }
    if (codings.empty()) return std::nullopt;
    if (header.find(http::field::content_length) != header.end()) {
      return std::pair{http::status::bad_request,
                       std::string("both Content-Length and Transfer-Encoding\n")};
    }
    if (header.version() < 11) {
      return std::pair{http::status::bad_request,
                       std::string("Transfer-Encoding in an HTTP/1.0 request\n")};
    }
    if (codings.size() == 1 && codings.front() == "chunked") return std::nullopt;
    for (const std::string& c : codings) {
      if (c != "chunked") {
        return std::pair{http::status::not_implemented,
                         std::string("unsupported Transfer-Encoding (only \"chunked\")\n")};
      }
    }
    return std::pair{http::status::bad_request, std::string("chunked applied more than once\n")};
  }

  // Serves one request whose header has been read. False: close the connection.
  net::awaitable<bool> ServeOne(http::request_parser<http::empty_body>& header_parser) {
    const HttpServerOptions& options = state_->options;
    const auto start = request_start_;
    auto& header = header_parser.get();
    const std::string method(header.method_string());
    const std::string log_path = LoggablePath(header.target());
    user_agent_ = std::string(header[http::field::user_agent].substr(0, kMaxKeptUserAgent));
    const bool has_body = header_parser.chunked() ||
                          header_parser.content_length().value_or(0) > 0 ||
                          header.find(http::field::transfer_encoding) != header.end();

    if (auto framing = FramingError(header)) {
      co_await SendErrorAndClose(framing->first, framing->second, method, log_path, start, true);
      co_return false;
    }
    Result<RequestTarget> target = ParseRequestTarget(header.target());
    if (!target.ok()) {
      co_await SendErrorAndClose(http::status::bad_request, target.error().message() + "\n", method,
                                 log_path, start, has_body);
      co_return false;
    }
    // Keep the match alive until the handler completes: the handler may refer to it.
    RouteMatch match = state_->router->Match(header.method(), target->path);
    bool keep_alive = header.keep_alive() && !stopping_;

    // Held until the handler is done with the body.
    BodyReservation reservation(state_->body_budget);
    HttpRequest request;
    if (!match.read_body) {
      if (has_body) {
        keep_alive = false;  // the unread body would be taken as the next request
        linger_ = true;
      }
      request = HttpRequest(std::move(header.base()));
    } else {
      boost::optional<uint64_t> length = header_parser.content_length();
      if (length &&
          (*length > match.body_limit || *length > state_->body_budget.limit() + kFreeBodyBytes)) {
        if (match.on_body_too_large) match.on_body_too_large(header);
        co_await SendErrorAndClose(http::status::payload_too_large, "request body too large\n",
                                   method, log_path, start, true);
        co_return false;
      }
      if (!reservation.CoverBody(length.value_or(0))) {
        co_await SendBusyAndClose(method, log_path, start);
        co_return false;
      }
      if (has_body && beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont(http::status::continue_, header.version());
        Lowest().expires_after(options.write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, cont, kNoThrow);
        if (ec) co_return false;
      }
      http::request_parser<http::string_body> body_parser(std::move(header_parser));
      body_parser.body_limit(match.body_limit);
      while (!body_parser.is_done()) {
        beast::error_code ec;
        if (buffer_.size() > 0) {
          // A chunked body grows as it arrives: cover what this step may append first.
          if (!length && !reservation.CoverBody(body_parser.get().body().size() + buffer_.size())) {
            co_await SendBusyAndClose(method, log_path, start);
            co_return false;
          }
          size_t used = body_parser.put(buffer_.data(), ec);
          buffer_.consume(used);
          if (ec == http::error::body_limit) {
            if (match.on_body_too_large) match.on_body_too_large(body_parser.get());
            co_await SendErrorAndClose(http::status::payload_too_large, "request body too large\n",
                                       method, log_path, start, true);
            co_return false;
          }
          if (ec && ec != http::error::need_more) {
            co_await SendErrorAndClose(http::status::bad_request,
                                       "malformed request body: " + ec.message() + "\n", method,
                                       log_path, start, true);
            co_return false;
          }
          if (body_parser.is_done()) break;
          if (!ec && used > 0) continue;
        }
        ec = co_await ReadMore();
        if (ec == http::error::buffer_overflow) {
          co_await SendErrorAndClose(http::status::bad_request, "malformed chunked body\n", method,
                                     log_path, start, true);
        }
        if (ec) co_return false;
      }
      request = body_parser.release();
    }

    SetPhase(Phase::kHandling);
    ConnectionExchange<Stream> exchange(stream_, options, std::move(request), std::move(*target),
                                        peer_, keep_alive, stopping_, state_->copy_buffer_budget);
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
      audit_ = exchange.audit();
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
    audit_ = exchange.audit();
    LogAccess(method, log_path, exchange.status(), exchange.bytes(), start,
              exchange.aborted() ? " (aborted)" : "");
    co_return !exchange.broken() && !stopping_;
  }

  // The body does not fit body_memory_budget now.
  net::awaitable<void> SendBusyAndClose(std::string_view method, std::string_view log_path,
                                        Clock::time_point start) {
    MLOG(Warning) << "http " << peer_ << ": " << method << " " << log_path
                  << ": request bodies already hold the memory budget ("
                  << state_->body_budget.limit() << " bytes); answering 503";
    co_await SendErrorAndClose(http::status::service_unavailable,
                               "the server is busy receiving other requests; retry shortly\n",
                               method, log_path, start, true, "2");
  }

  // Answers a request the server rejected itself, then closes the connection. With
  // `unread_body`, the client may still be sending: drain a little first so that the
  // answer is not lost to a connection reset.
  net::awaitable<void> SendErrorAndClose(http::status status, std::string body,
                                         std::string_view method, std::string_view log_path,
                                         Clock::time_point start, bool unread_body = false,
                                         std::string_view retry_after = {}) {
    HttpResponse res(status, 11);
    res.set(http::field::server, state_->options.server_name);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (!retry_after.empty()) res.set(http::field::retry_after, retry_after);
    res.keep_alive(false);
    res.body() = std::move(body);
    res.prepare_payload();
    Lowest().expires_after(state_->options.write_timeout);
    auto [ec, n] = co_await http::async_write(stream_, res, kNoThrow);
    LogAccess(method, log_path, res.result_int(), ec ? 0 : res.body().size(), start, "");
    if (!ec && unread_body) co_await Linger();
  }

  // Closes our sending side, then reads and discards what the client still sends (briefly,
  // and only so much), so that closing does not reset the connection before the client has
  // read our answer.
  net::awaitable<void> Linger() {
    beast::error_code ignored;
    Lowest().socket().shutdown(net::socket_base::shutdown_send, ignored);
    char scratch[16384];
    size_t drained = 0;
    const auto deadline = Clock::now() + kMaxLinger;
    while (drained < kMaxLingerBytes && Clock::now() < deadline) {
      Lowest().expires_at(deadline);
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
      HttpAccessRecord record;
      record.method = method;
      record.path = log_path;
      record.status = status;
      record.bytes = bytes;
      record.duration = duration;
      record.time = request_wall_;
      record.client = ClientAddress(peer_);
      record.user_agent = user_agent_;
      record.token_name = audit_.token_name;
      record.repo = audit_.repo;
      state_->options.on_request(record);
    }
  }

  std::shared_ptr<HttpServer::State> state_;
  std::string peer_;
  std::string client_;  // the per-client cap's key (ClientKey: the address or its /64)
  std::shared_ptr<net::ssl::context> tls_;  // kept for the stream's lifetime; TLS only
  Stream stream_;
  beast::flat_buffer buffer_;
  uint64_t id_ = 0;
  std::weak_ptr<net::cancellation_signal> cancel_;
  Clock::time_point request_start_;  // first byte of the request now arriving; strand only
  std::chrono::system_clock::time_point request_wall_ = std::chrono::system_clock::now();
  std::string user_agent_;      // of the request now served (bounded); strand only
  RequestAudit audit_;          // what its handler noted; strand only
  uint64_t request_bytes_ = 0;  // of the request now arriving; strand only
  bool idle_ = true;            // waiting for a request header; strand only
  bool stopping_ = false;       // strand only
  bool force_closed_ = false;   // strand only
  bool linger_ = false;         // the last request's body was not read; strand only
};

HttpServer::State::Admission HttpServer::State::Register(
    uint64_t* id, const std::shared_ptr<ConnectionBase>& conn, const std::string& client) {
  std::lock_guard lock(mu);
  if (stopping) return Admission::kStopping;
  size_t& from_client = per_client[client];
  if (from_client >= options.max_connections_per_client) {
    if (from_client == 0) per_client.erase(client);
    return Admission::kClientOverCap;
  }
  ++from_client;
  *id = next_id++;
  connections.emplace(*id, conn);
  return Admission::kAdmitted;
}

void HttpServer::State::Unregister(uint64_t id, const std::string& client) {
  std::lock_guard lock(mu);
  connections.erase(id);
  auto it = per_client.find(client);
  if (it != per_client.end() && --it->second == 0) per_client.erase(it);
  net::post(strand, [self = shared_from_this()] { self->slot_timer.cancel(); });
  if (stopping && connections.empty()) {
    net::post(strand, [self = shared_from_this()] { self->stop_timer.cancel(); });
  }
}

bool HttpServer::State::EvictOne() {
  std::shared_ptr<ConnectionBase> idle, receiving;
  {
    std::lock_guard lock(mu);
    for (auto& [cid, weak] : connections) {
      std::shared_ptr<ConnectionBase> c = weak.lock();
      if (!c) continue;
      switch (c->phase()) {
        case ConnectionBase::Phase::kIdle:
          if (!idle || c->phase_since() < idle->phase_since()) idle = c;
          break;
        case ConnectionBase::Phase::kReceiving:
          if (!receiving || c->phase_since() < receiving->phase_since()) receiving = c;
          break;
        case ConnectionBase::Phase::kHandling:
          break;
      }
    }
  }
  std::shared_ptr<ConnectionBase> victim = idle ? idle : receiving;
  if (!victim) return false;
  victim->Evict();
  return true;
}

void HttpServer::State::BeginStop(std::chrono::milliseconds grace) {
  std::vector<std::shared_ptr<ConnectionBase>> open;
  std::vector<std::function<void()>> listening;
  {
    std::lock_guard lock(mu);
    if (stopping) return;
    stopping = true;
    listening.swap(acceptor_closers);
    for (auto& [id, weak] : connections) {
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
    }
  }
  net::post(strand, [listening] {
    for (auto& close : listening) close();
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
      std::vector<std::shared_ptr<ConnectionBase>> remaining;
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

template <typename Protocol>
net::awaitable<void> HttpServer::State::AcceptLoop(
    std::shared_ptr<typename Protocol::acceptor> acceptor, TlsContextProvider tls) {
  using namespace net::experimental::awaitable_operators;
  auto self = shared_from_this();
  for (;;) {
    if (AtCap()) {
      // Back off: accept nobody until a connection ends, making room by closing an idle or
      // still-arriving connection once someone is waiting in the backlog.
      auto [wec] = co_await acceptor->async_wait(net::socket_base::wait_read, kNoThrow);
      if (wec || !acceptor->is_open()) co_return;
      if (AtCap()) {
        if (!EvictOne()) {
          MLOG(Debug) << "http: at max_connections (" << options.max_connections
                      << ") with every connection busy; newcomers wait in the backlog";
        }
        net::steady_timer recheck(strand, std::chrono::milliseconds(250));
        co_await (slot_timer.async_wait(kNoThrow) || recheck.async_wait(kNoThrow));
        continue;
      }
    }
    auto [ec, socket] = co_await acceptor->async_accept(net::make_strand(io), kNoThrow);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      MLOG(Warning) << "http: accept failed: " << ec.message();
      net::steady_timer pause(strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    std::string peer = "unix";
    std::string client = "unix";  // a local socket's clients all count as one
    if constexpr (std::is_same_v<Protocol, tcp>) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      tcp::endpoint remote = socket.remote_endpoint(ignored);
      // The per-client cap's key: the IPv4 address, or the IPv6 /64 (daemon/client_key.h).
      client = ClientKey(remote.address());
      peer = PeerName(socket);
    }
    auto executor = socket.get_executor();
    const int fd = socket.native_handle();
    using Plain = beast::basic_stream<Protocol>;
    std::shared_ptr<ConnectionBase> conn;
    std::function<net::awaitable<void>()> run;
    std::function<void(uint64_t, std::weak_ptr<net::cancellation_signal>)> setup;
    auto make = [&]<typename S>(std::shared_ptr<net::ssl::context> context) {
      auto c = std::make_shared<Connection<S>>(self, std::move(socket), peer, client,
                                               std::move(context));
      run = [c] { return c->Run(); };
      setup = [c](uint64_t cid, std::weak_ptr<net::cancellation_signal> cancel) {
        c->set_id(cid);
        c->set_cancel(std::move(cancel));
      };
      conn = std::move(c);
    };
    if constexpr (std::is_same_v<Protocol, tcp>) {
      if (tls) {
        std::shared_ptr<net::ssl::context> context = tls();
        if (!context) continue;  // closes the socket
        make.template operator()<beast::ssl_stream<Plain>>(std::move(context));
      } else {
        make.template operator()<Plain>(nullptr);
      }
    } else {
      // A Unix socket is reached only from this host: plain HTTP (ListenUnix refuses TLS).
      make.template operator()<Plain>(nullptr);
    }
    uint64_t id = 0;
    Admission admission = Register(&id, conn, client);
    if (admission == Admission::kStopping) co_return;  // conn's destructor closes the socket
    if (admission == Admission::kClientOverCap) {
      // Best effort, without waiting for the client: it may not even be reading.
      static constexpr std::string_view kTooMany =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n"
          "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\n\r\n"
          "too many connections from your address\n";
      (void)::send(fd, kTooMany.data(), kTooMany.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      MLOG(Info) << "http " << client << ": refused: max_connections_per_client ("
                 << options.max_connections_per_client << ") reached";
      continue;  // conn's destructor closes the socket
    }
    // The completion handler owns the signal: it must outlive the coroutine's slot.
    auto cancel = std::make_shared<net::cancellation_signal>();
    setup(id, cancel);
    auto slot = cancel->slot();
    net::co_spawn(executor, run(),
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

Result<tcp::endpoint> HttpServer::Listen(std::string_view host, uint16_t port,
                                         ListenOptions listen_options) {
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
  const bool tls_note = static_cast<bool>(listen_options.tls);
  RETURN_IF_ERROR(StartAccepting<tcp>(acceptor, std::move(listen_options.tls)));
  MLOG(Info) << "http: listening on " << bound.address().to_string() << ":" << bound.port()
             << (tls_note ? " (TLS)" : "");
  return bound;
}

Status HttpServer::ListenUnix(const std::filesystem::path& path, ListenOptions listen_options) {
  using local = net::local::stream_protocol;
  if (listen_options.tls) return InvalidArgument("TLS on a Unix socket is not supported");
  beast::error_code ec;
  // A socket file left by an earlier run would make bind fail; anything else there is not
  // ours to remove.
  std::error_code fs_ec;
  if (std::filesystem::is_socket(std::filesystem::symlink_status(path, fs_ec))) {
    std::filesystem::remove(path, fs_ec);
  }
  auto acceptor = std::make_shared<local::acceptor>(state_->strand);
  auto fail = [&](std::string_view what) {
    return Unavailable("listen on unix:" + path.string() + ": " + std::string(what) + ": " +
                       ec.message());
  };
  acceptor->open(local(), ec);
  if (ec) return fail("open");
  acceptor->bind(local::endpoint(path.string()), ec);
  if (ec) return fail("bind");
  acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  RETURN_IF_ERROR(StartAccepting<local>(acceptor, std::move(listen_options.tls)));
  MLOG(Info) << "http: listening on unix:" << path.string();
  return Status::Ok();
}

template <typename Protocol>
Status HttpServer::StartAccepting(std::shared_ptr<typename Protocol::acceptor> acceptor,
                                  TlsContextProvider tls) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return Cancelled("server is stopping");
    state_->acceptor_closers.push_back([acceptor] {
      beast::error_code ignored;
      acceptor->close(ignored);
    });
  }
  net::co_spawn(state_->strand, state_->AcceptLoop<Protocol>(acceptor, std::move(tls)),
                [](std::exception_ptr e) {
                  if (!e) return;
                  try {
                    std::rethrow_exception(e);
                  } catch (const std::exception& x) {
                    MLOG(Error) << "http: accept loop failed: " << x.what();
                  } catch (...) {
                    MLOG(Error) << "http: accept loop failed";
                  }
                });
  return Status::Ok();
}

void HttpServer::Stop(std::chrono::milliseconds grace) { state_->BeginStop(grace); }

size_t HttpServer::connection_count() const {
  std::lock_guard lock(state_->mu);
  return state_->connections.size();
}

uint64_t HttpServer::body_bytes_reserved() const { return state_->body_budget.used(); }
uint64_t HttpServer::copy_buffer_bytes_held() const { return state_->copy_buffer_budget.used(); }

uint64_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    } else {
      MLOG(Warning) << "cannot raise the open file limit to " << limit.rlim_max << ": "
                    << std::strerror(errno);
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                                         : static_cast<uint64_t>(limit.rlim_cur);
}

size_t ConnectionCapForFdLimit(uint64_t open_file_limit, size_t wanted) {
  if (open_file_limit <= kReservedFds + kFdsPerConnection) return 1;
  const uint64_t allowed = (open_file_limit - kReservedFds) / kFdsPerConnection;
  return static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(wanted, allowed)));
}

}  // namespace mirrord
