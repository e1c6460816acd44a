// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"

namespace mirrord {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using Response = http::response<http::string_body>;

// A blocking test client on a plain socket, with a timeout on every wait so that a server
// bug fails the test instead of hanging it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads one response (skipping 1xx ones unless `keep_interim`). nullopt on timeout, or
  // if the connection ends before a complete response.
  std::optional<Response> Read(bool head_request = false, bool keep_interim = false,
                               std::chrono::milliseconds timeout = 10s) {
    for (;;) {
      http::response_parser<http::string_body> parser;
      parser.eager(true);
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      if (head_request) parser.skip(true);
      for (;;) {
        if (!pending_.empty()) {
          boost::beast::error_code ec;
          size_t used = parser.put(net::buffer(pending_), ec);
          pending_.erase(0, used);
          if (ec && ec != http::error::need_more) return std::nullopt;
          if (parser.is_done()) break;
          if (used > 0 && !pending_.empty()) continue;
        }
        if (!Fill(timeout)) {
          boost::beast::error_code ec;
          parser.put_eof(ec);
          if (!ec && parser.is_done()) break;
          return std::nullopt;
        }
      }
      Response res = parser.release();
      if (res.result_int() / 100 == 1 && !keep_interim) continue;
      return res;
    }
  }

  // True if the server closes the connection within `timeout` (after any pending data).
  bool WaitClosed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Fill(std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - std::chrono::steady_clock::now()))) {
        return closed_;
      }
    }
    return false;
  }

  void Close() { fd_.reset(); }

 private:
  // Appends whatever arrives within `timeout`; false on timeout, EOF or error.
  bool Fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }

  UniqueFd fd_;
  bool connected_ = false;
  bool closed_ = false;
  std::string pending_;
};

std::string Get(std::string_view target, std::string_view extra = "") {
  return std::string("GET ") + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" +
         std::string(extra) + "\r\n";
}

// An HttpServer on 127.0.0.1:0 running on its own thread.
class TestServer {
 public:
  TestServer(std::shared_ptr<Router> router, HttpServerOptions options = {})
      : server_(io_, std::move(router), std::move(options)) {
    Result<net::ip::tcp::endpoint> ep = server_.Listen("127.0.0.1", 0);
    EXPECT_TRUE(ep.ok()) << ep.status().ToString();
    if (ep.ok()) port_ = ep->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() { Stop(0ms); }

  // Stops the server and waits until its io_context has no work left.
  void Stop(std::chrono::milliseconds grace) {
    server_.Stop(grace);
    if (thread_.joinable()) thread_.join();
  }

  uint16_t port() const { return port_; }
  HttpServer& server() { return server_; }

 private:
  net::io_context io_;
  HttpServer server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Polls `condition` (the server's own state) for up to 10 s.
bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

net::awaitable<void> Text(HttpExchange& ex, std::string body) {
  co_await ex.Respond(MakeResponse(ex.request(), http::status::ok, std::move(body)));
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_ = std::make_shared<Router>();
    router_->Add(http::verb::get, "/healthz", [](HttpExchange& ex) { return Text(ex, "ok\n"); });
    router_->AddPrefix({http::verb::get}, "/echo/", [](HttpExchange& ex) {
      auto it = ex.query().find("q");
      return Text(ex, ex.path() + "|" + (it == ex.query().end() ? "-" : it->second));
    });
    router_->Add(
        http::verb::post, "/small",
        [](HttpExchange& ex) { return Text(ex, std::to_string(ex.request().body().size())); },
        {.body_limit = 16, .on_body_too_large = {}});
    router_->Add(http::verb::get, "/throw", [](HttpExchange&) -> net::awaitable<void> {
      throw std::runtime_error("boom");
      co_return;
    });
    router_->Add(http::verb::get, "/silent",
                 [](HttpExchange&) -> net::awaitable<void> { co_return; });
    router_->Add(http::verb::get, "/stream", [](HttpExchange& ex) -> net::awaitable<void> {
      http::response<http::empty_body> header(http::status::ok, 11);
      header.set(http::field::content_type, "application/octet-stream");
      if (!co_await ex.BeginStream(std::move(header))) co_return;
      for (std::string_view part : {"alpha ", "", "beta ", "gamma"}) {
        if (!co_await ex.Write(part)) co_return;
      }
      co_await ex.EndStream();
    });
    router_->Add(http::verb::get, "/abort", [](HttpExchange& ex) -> net::awaitable<void> {
      http::response<http::empty_body> header(http::status::ok, 11);
      if (!co_await ex.BeginStream(std::move(header))) co_return;
      co_await ex.Write("partial");
      ex.Abort();
    });
    router_->Add(http::verb::get, "/slow", [this](HttpExchange& ex) -> net::awaitable<void> {
      slow_started_.set_value();
      net::steady_timer timer(co_await net::this_coro::executor, 300ms);
      co_await timer.async_wait(net::use_awaitable);
      co_await Text(ex, "slow\n");
    });
    router_->Add(http::verb::get, "/stuck", [this](HttpExchange&) -> net::awaitable<void> {
      slow_started_.set_value();
      net::steady_timer timer(co_await net::this_coro::executor, std::chrono::hours(1));
      co_await timer.async_wait(net::use_awaitable);
    });
  }

  std::shared_ptr<Router> router_;
  std::promise<void> slow_started_;
};

TEST_F(HttpServerTest, ListenPicksAFreePort) {
  TestServer server(router_);
  EXPECT_NE(server.port(), 0);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer server(router_);
  RawClient c(server.port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    c.Send(Get("/healthz"));
    std::optional<Response> r = c.Read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->result(), http::status::ok);
    EXPECT_EQ(r->body(), "ok\n");
    EXPECT_EQ((*r)[http::field::server], "mirrord");
    EXPECT_TRUE(r->keep_alive());
  }
  // Pipelined requests are answered in order.
  c.Send(Get("/echo/a?q=1") + Get("/echo/b?q=2"));
  EXPECT_EQ(c.Read()->body(), "/echo/a|1");
  EXPECT_EQ(c.Read()->body(), "/echo/b|2");
  c.Send(Get("/healthz", "Connection: close\r\n"));
  ASSERT_TRUE(c.Read());
  EXPECT_TRUE(c.WaitClosed(2s));
}

TEST_F(HttpServerTest, HeadGetsHeadersWithoutBody) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  std::optional<Response> r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_EQ((*r)[http::field::content_length], "3");
  EXPECT_EQ(r->body(), "");
  // No stray body bytes: the next response parses cleanly.
  c.Send(Get("/healthz"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "ok\n");
}

TEST_F(HttpServerTest, DecodesPathAndQuery) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/echo/a%20b?q=x%26y+z&token=secret"));
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "/echo/a b|x&y z");
  c.Send(Get("/echo/bad%zz"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::bad_request);
}

TEST_F(HttpServerTest, UnknownPathAndMethod) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/nope"));
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::not_found);
  c.Send("DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::method_not_allowed);
  EXPECT_EQ((*r)[http::field::allow], "GET, HEAD");
  c.Send("BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::method_not_allowed);
}

TEST_F(HttpServerTest, BodyWithinLimitIsRead) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "10");
  c.Send(
      "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "8");
}

TEST_F(HttpServerTest, ContentLengthOverLimitIs413WithoutReadingTheBody) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n");
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::payload_too_large);
  EXPECT_FALSE(r->keep_alive());
  EXPECT_TRUE(c.WaitClosed(3s));
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitIs413) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(
      "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "a\r\n0123456789\r\na\r\n0123456789\r\n");
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::payload_too_large);
  EXPECT_TRUE(c.WaitClosed(3s));
}

TEST_F(HttpServerTest, ExpectContinue) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  std::optional<Response> r = c.Read(false, /*keep_interim=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::continue_);
  c.Send("abcd");
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "4");
}

TEST_F(HttpServerTest, HandlerFailuresBecome500) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/throw"));
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::internal_server_error);
  c.Send(Get("/silent"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::internal_server_error);
  c.Send(Get("/healthz"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
}

TEST_F(HttpServerTest, StreamsChunkedAndKeepsTheConnection) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/stream"));
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_TRUE(r->chunked());
  EXPECT_EQ(r->body(), "alpha beta gamma");
  c.Send(Get("/healthz"));
  ASSERT_TRUE(c.Read());
  // HEAD of a streamed resource: headers only.
  c.Send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "");
  // HTTP/1.0 clients get the raw body, delimited by the close.
  RawClient old(server.port());
  old.Send("GET /stream HTTP/1.0\r\n\r\n");
  r = old.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "alpha beta gamma");
}

TEST_F(HttpServerTest, AbortedStreamIsTruncated) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/abort"));
  EXPECT_FALSE(c.Read());  // the connection ends before the last chunk
}

// SendPieces: memory bytes and file ranges (sendfile) in order, one Content-Length, the
// connection kept; a file shorter than its piece closes the connection mid-body.
TEST_F(HttpServerTest, PiecesOfMemoryAndFileRangesGoOutInOrder) {
  char path_template[] = "/tmp/mirrord-pieces-XXXXXX";
  UniqueFd fd(::mkstemp(path_template));
  ASSERT_TRUE(fd.valid());
  ::unlink(path_template);
  ASSERT_TRUE(WriteAll(fd.get(), "0123456789abcdefghij").ok());
  const int raw = fd.get();
  auto piece = [](std::string bytes, int file, uint64_t offset, uint64_t length) {
    BodyPiece p;
    p.bytes = std::move(bytes);
    p.fd = file;
    p.offset = offset;
    p.length = file < 0 ? p.bytes.size() : length;
    return p;
  };
  router_->Add({http::verb::get, http::verb::head}, "/pieces",
               [&](HttpExchange& ex) -> net::awaitable<void> {
                 std::vector<BodyPiece> pieces;
                 pieces.push_back(piece("<", -1, 0, 0));
                 pieces.push_back(piece("", raw, 5, 10));
                 pieces.push_back(piece("", -1, 0, 0));  // empty pieces are skipped
                 pieces.push_back(piece("|", -1, 0, 0));
                 pieces.push_back(piece("", raw, 0, 3));
                 http::response<http::empty_body> header(http::status::ok, 11);
                 co_await ex.SendPieces(std::move(header), std::move(pieces));
               });
  router_->Add(http::verb::get, "/short-piece", [&](HttpExchange& ex) -> net::awaitable<void> {
    std::vector<BodyPiece> pieces;
    pieces.push_back(piece("head", -1, 0, 0));
    pieces.push_back(piece("", raw, 15, 10));  // the file has 5 bytes there
    http::response<http::empty_body> header(http::status::ok, 11);
    co_await ex.SendPieces(std::move(header), std::move(pieces));
  });
  // Copied through a buffer (this client is on this host), and by sendfile (no copy budget).
  for (uint64_t budget : {HttpServerOptions().copy_buffer_budget, uint64_t{0}}) {
    SCOPED_TRACE("copy_buffer_budget " + std::to_string(budget));
    HttpServerOptions options;
    options.copy_buffer_budget = budget;
    TestServer server(router_, options);
    RawClient c(server.port());
    c.Send(Get("/pieces"));
    std::optional<Response> r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[http::field::content_length], "15");
    EXPECT_EQ(r->body(), "<56789abcde|012");
    c.Send("HEAD /pieces HTTP/1.1\r\nHost: t\r\n\r\n");
    r = c.Read(/*head_request=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[http::field::content_length], "15");
    EXPECT_EQ(r->body(), "");
    c.Send(Get("/healthz"));
    ASSERT_TRUE(c.Read());  // the connection is still good
    RawClient s(server.port());
    s.Send(Get("/short-piece"));
    EXPECT_FALSE(s.Read());  // truncated: never a complete-looking body
    EXPECT_EQ(server.server().copy_buffer_bytes_held(), 0u);
  }
}

// A file response to a client on this host is copied through a buffer; the buffers of all
// such responses stay within copy_buffer_budget (a reader that stalls keeps its buffer), and
// a response that finds the budget spent goes by sendfile, with the same bytes.
TEST_F(HttpServerTest, CopyBuffersStayWithinTheirBudget) {
  char path_template[] = "/tmp/mirrord-copy-budget-XXXXXX";
  UniqueFd fd(::mkstemp(path_template));
  ASSERT_TRUE(fd.valid());
  ::unlink(path_template);
  // Larger than what the socket buffers of a stalled reader can absorb.
  std::string content(32u << 20, '\0');
  uint32_t x = 12345;
  for (char& c : content) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  ASSERT_TRUE(WriteAll(fd.get(), content).ok());
  const int raw = fd.get();
  router_->Add(http::verb::get, "/file", [&](HttpExchange& ex) -> net::awaitable<void> {
    http::response<http::empty_body> header(http::status::ok, 11);
    co_await ex.SendFile(std::move(header), raw, 0, content.size());
  });
  HttpServerOptions options;
  options.copy_buffer_budget = kCopyBufferBytes;  // room for one response's buffer
  TestServer server(router_, options);

  RawClient stalled(server.port());
  stalled.Send(Get("/file"));
  ASSERT_TRUE(
      WaitFor([&] { return server.server().copy_buffer_bytes_held() == kCopyBufferBytes; }));
  RawClient second(server.port());
  second.Send(Get("/file"));
  std::optional<Response> r = second.Read();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body() == content) << "the sendfile response differs from the file";
  EXPECT_EQ(server.server().copy_buffer_bytes_held(), kCopyBufferBytes);  // still the first's

  r = stalled.Read();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body() == content) << "the copied response differs from the file";
  EXPECT_TRUE(WaitFor([&] { return server.server().copy_buffer_bytes_held() == 0; }));
}

// A reader that takes nothing for write_timeout is cut, and its copy buffer released.
TEST_F(HttpServerTest, AStalledCopyIsCutAfterTheWriteTimeout) {
  char path_template[] = "/tmp/mirrord-copy-stall-XXXXXX";
  UniqueFd fd(::mkstemp(path_template));
  ASSERT_TRUE(fd.valid());
  ::unlink(path_template);
  ASSERT_TRUE(WriteAll(fd.get(), std::string(32u << 20, 'z')).ok());
  const int raw = fd.get();
  router_->Add(http::verb::get, "/file", [&](HttpExchange& ex) -> net::awaitable<void> {
    http::response<http::empty_body> header(http::status::ok, 11);
    co_await ex.SendFile(std::move(header), raw, 0, 32u << 20);
  });
  HttpServerOptions options;
  options.write_timeout = 300ms;
  TestServer server(router_, options);
  RawClient stalled(server.port());
  stalled.Send(Get("/file"));
  ASSERT_TRUE(WaitFor([&] { return server.server().copy_buffer_bytes_held() > 0; }));
  EXPECT_TRUE(WaitFor([&] { return server.server().copy_buffer_bytes_held() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return server.server().connection_count() == 0; }));
}

TEST_F(HttpServerTest, ReadTimeoutClosesIdleConnections) {
  HttpServerOptions options;
  options.read_timeout = 200ms;
  TestServer server(router_, options);
  RawClient idle(server.port());
  RawClient partial(server.port());
  partial.Send("GET /healthz HTTP/1.1\r\n");
  EXPECT_TRUE(idle.WaitClosed(3s));
  EXPECT_TRUE(partial.WaitClosed(3s));
  // After a request, the keep-alive wait is timed too.
  RawClient used(server.port());
  used.Send(Get("/healthz"));
  ASSERT_TRUE(used.Read());
  EXPECT_TRUE(used.WaitClosed(3s));
  // A body that stalls.
  RawClient stalled(server.port());
  stalled.Send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
  EXPECT_TRUE(stalled.WaitClosed(3s));
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  HttpServerOptions options;
  options.header_limit = 1024;
  TestServer server(router_, options);
  RawClient c(server.port());
  c.Send(Get("/healthz", "X-Big: " + std::string(4000, 'x') + "\r\n"));
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::request_header_fields_too_large);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send("NOT HTTP AT ALL\r\n\r\n");
  std::optional<Response> r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::bad_request);
}

TEST_F(HttpServerTest, AccessObserverSeesEveryRequest) {
  std::atomic<int> seen{0};
  std::atomic<unsigned> last_status{0};
  HttpServerOptions options;
  options.on_request = [&](const HttpAccessRecord& rec) {
    last_status = rec.status;
    EXPECT_EQ(rec.path.find('?'), std::string_view::npos);
    ++seen;
  };
  TestServer server(router_, options);
  RawClient c(server.port());
  c.Send(Get("/echo/x?q=secret"));
  ASSERT_TRUE(c.Read());
  c.Send(Get("/nope"));
  ASSERT_TRUE(c.Read());
  server.Stop(1s);
  EXPECT_EQ(seen.load(), 2);
  EXPECT_EQ(last_status.load(), 404u);
}

TEST_F(HttpServerTest, StopLetsInFlightRequestsFinish) {
  TestServer server(router_);
  RawClient idle(server.port());
  RawClient busy(server.port());
  ASSERT_TRUE(idle.connected() && busy.connected());
  busy.Send(Get("/slow"));
  ASSERT_EQ(slow_started_.get_future().wait_for(5s), std::future_status::ready);
  auto start = std::chrono::steady_clock::now();
  server.Stop(5s);  // returns once the io_context is out of work
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  std::optional<Response> r = busy.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "slow\n");
  EXPECT_FALSE(r->keep_alive());
  EXPECT_TRUE(idle.WaitClosed(1s));
  EXPECT_FALSE(RawClient(server.port()).connected());
  EXPECT_EQ(server.server().connection_count(), 0u);
}

TEST_F(HttpServerTest, StopClosesStuckExchangesAfterTheGracePeriod) {
  TestServer server(router_);
  RawClient c(server.port());
  c.Send(Get("/stuck"));
  ASSERT_EQ(slow_started_.get_future().wait_for(5s), std::future_status::ready);
  auto start = std::chrono::steady_clock::now();
  server.Stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(c.WaitClosed(1s));
}

}  // namespace
}  // namespace mirrord

namespace mirrord {
namespace {

// Hostile-client limits of the server (issue 10): framing, deadlines, caps, body budget.
class HttpServerLimitsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    HttpServerTest::SetUp();
    router_->Add(http::verb::post, "/count",
                 [this](HttpExchange& ex) {
                   ++handled_;
                   return Text(ex, std::to_string(ex.request().body().size()));
                 },
                 {.body_limit = 1 << 20, .on_body_too_large = {}});
    router_->Add(http::verb::get, "/counted", [this](HttpExchange& ex) {
      ++handled_;
      return Text(ex, "counted\n");
    });
  }

  // Sends one byte every 100 ms until the server closes the connection (true) or 20 s
  // have passed (false): a client that trickles.
  static bool TrickleUntilClosed(RawClient& client, std::string_view byte) {
    for (int i = 0; i < 200; ++i) {
      client.Send(byte);
      if (client.WaitClosed(100ms)) return true;
    }
    return false;
  }

  // The status of the answer to `request` sent on a fresh connection; 0 if none came.
  static unsigned StatusOf(uint16_t port, const std::string& request) {
    RawClient client(port);
    client.Send(request);
    std::optional<Response> res = client.Read();
    return res ? res->result_int() : 0;
  }

  std::atomic<int> handled_{0};
};

TEST_F(HttpServerLimitsTest, TransferEncodingOtherThanChunkedIsRefusedAndClosed) {
  TestServer server(router_);
  const std::string smuggled = "GET /counted HTTP/1.1\r\nHost: test\r\n\r\n";
  struct Case {
    std::string headers;
    unsigned status;
  };
  const std::vector<Case> cases = {
      {"Transfer-Encoding: gzip\r\n", 501},
      {"Transfer-Encoding: identity\r\n", 501},
      {"Transfer-Encoding: xchunked\r\n", 501},
      {"Transfer-Encoding: chunked, gzip\r\n", 501},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n",
       400},
      {"Content-Length: " + std::to_string(smuggled.size()) + "\r\nTransfer-Encoding: chunked\r\n",
       400},
  };
  for (const Case& c : cases) {
    RawClient client(server.port());
    ASSERT_TRUE(client.connected());
    client.Send("POST /count HTTP/1.1\r\nHost: test\r\n" + c.headers + "\r\n" + smuggled);
    std::optional<Response> res = client.Read();
    ASSERT_TRUE(res.has_value()) << c.headers;
    EXPECT_EQ(res->result_int(), c.status) << c.headers;
    EXPECT_FALSE(res->keep_alive()) << c.headers;
    EXPECT_TRUE(client.WaitClosed(10s)) << c.headers;
  }
  // HTTP/1.0 has no chunked coding.
  RawClient old(server.port());
  old.Send("POST /count HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled);
  std::optional<Response> res = old.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 400u);
  EXPECT_EQ(handled_.load(), 0) << "a smuggled request or a refused body reached a handler";

  // Exactly "chunked" still works, and keeps the connection.
  RawClient good(server.port());
  good.Send(
      "POST /count HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: "
      "Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  res = good.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(res->body(), "3");
  EXPECT_TRUE(res->keep_alive());
}

TEST_F(HttpServerLimitsTest, MalformedChunkedBodyIs400) {
  TestServer server(router_);
  for (std::string_view body :
       {"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcd\r\n0\r\n\r\n", "-1\r\nabc\r\n0\r\n\r\n"}) {
    RawClient client(server.port());
    client.Send("POST /count HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
                std::string(body) + "GET /counted HTTP/1.1\r\nHost: test\r\n\r\n");
    std::optional<Response> res = client.Read();
    ASSERT_TRUE(res.has_value()) << body;
    EXPECT_EQ(res->result_int(), 400u) << body;
    EXPECT_TRUE(client.WaitClosed(10s)) << body;
  }
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerLimitsTest, RequestDeadlineCutsATrickledBody) {
  HttpServerOptions options;
  options.request_timeout = 500ms;
  options.min_transfer_rate = 0;
  TestServer server(router_, options);
  RawClient client(server.port());
  client.Send("POST /count HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nab");
  // Each byte well within read_timeout (30 s): only the whole-request deadline can cut it.
  EXPECT_TRUE(TrickleUntilClosed(client, "c")) << "a trickled body held the connection";
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HttpServerLimitsTest, MinimumRateCutsASlowHeaderBeforeTheDeadline) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::hours(1);
  options.min_transfer_rate = 1000;
  options.min_rate_grace = 300ms;
  TestServer server(router_, options);
  RawClient client(server.port());
  client.Send("GET /counted HTTP/1.1\r\nHost: test\r\n");
  EXPECT_TRUE(TrickleUntilClosed(client, "X"));  // 10 bytes/s against 1000 required
  EXPECT_EQ(handled_.load(), 0);
  // A client at a normal pace is served.
  EXPECT_EQ(StatusOf(server.port(), Get("/counted")), 200u);
}

TEST_F(HttpServerLimitsTest, PerClientCapRefusesExtraConnectionsWith503) {
  HttpServerOptions options;
  options.max_connections_per_client = 2;
  TestServer server(router_, options);
  RawClient a(server.port()), b(server.port());
  a.Send("GET /counted HTTP/1.1\r\n");  // held: the header never ends
  b.Send("GET /counted HTTP/1.1\r\n");
  ASSERT_TRUE(WaitFor([&] { return server.server().connection_count() == 2; }));
  RawClient c(server.port());
  std::optional<Response> res = c.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 503u);
  EXPECT_EQ((*res)[http::field::retry_after], "5");
  EXPECT_EQ(server.server().connection_count(), 2u);
  // Once one ends, the client is served again.
  a.Close();
  ASSERT_TRUE(WaitFor([&] { return server.server().connection_count() == 1; }));
  EXPECT_EQ(StatusOf(server.port(), Get("/counted")), 200u);
}

TEST_F(HttpServerLimitsTest, AtTheTotalCapSlowRequestsMakeRoomAndHandlersAreKept) {
  HttpServerOptions options;
  options.max_connections = 3;
  TestServer server(router_, options);
  // One connection inside a handler, two with requests that never finish arriving.
  RawClient busy(server.port());
  busy.Send(Get("/stuck"));
  slow_started_.get_future().wait();
  RawClient slow1(server.port()), slow2(server.port());
  slow1.Send("GET /counted HTTP/1.1\r\nX-Slow: ");
  slow2.Send("GET /counted HTTP/1.1\r\nX-Slow: ");
  ASSERT_TRUE(WaitFor([&] { return server.server().connection_count() == 3; }));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(StatusOf(server.port(), Get("/healthz")), 200u)
        << "healthz starved at the connection cap (" << i << ")";
  }
  EXPECT_TRUE(slow1.WaitClosed(10s)) << "the request arriving longest was not closed first";
  EXPECT_LE(server.server().connection_count(), 3u);
  // The handler's connection was never taken.
  EXPECT_FALSE(busy.WaitClosed(200ms));
}

TEST_F(HttpServerLimitsTest, BodiesBeyondTheMemoryBudgetGet503) {
  HttpServerOptions options;
  options.body_memory_budget = 100 << 10;
  TestServer server(router_, options);
  const std::string length = std::to_string(150 << 10);  // 86 KiB beyond the free 64 KiB
  RawClient holder(server.port());
  holder.Send("POST /count HTTP/1.1\r\nHost: test\r\nContent-Length: " + length + "\r\n\r\nabc");
  ASSERT_TRUE(WaitFor([&] { return server.server().body_bytes_reserved() > 0; }));
  RawClient second(server.port());
  second.Send("POST /count HTTP/1.1\r\nHost: test\r\nContent-Length: " + length + "\r\n\r\n");
  std::optional<Response> res = second.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 503u);
  EXPECT_FALSE((*res)[http::field::retry_after].empty());
  // Small bodies are not counted: they still get through.
  RawClient small(server.port());
  small.Send("POST /count HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello");
  res = small.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  // A body larger than the whole budget can never fit: 413, not "retry later".
  RawClient huge(server.port());
  huge.Send("POST /count HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(1 << 20) +
            "\r\n\r\n");
  res = huge.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 413u);
  // Finishing the first body releases its share.
  holder.Send(std::string((150 << 10) - 3, 'x'));
  res = holder.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), std::to_string(150 << 10));
  EXPECT_TRUE(WaitFor([&] { return server.server().body_bytes_reserved() == 0; }));
}

TEST(ConnectionCapForFdLimitTest, KeepsDescriptorsForServing) {
  EXPECT_EQ(ConnectionCapForFdLimit(1024, 1024), (1024 - kReservedFds) / kFdsPerConnection);
  EXPECT_EQ(ConnectionCapForFdLimit(1 << 20, 1024), 1024u);
  EXPECT_EQ(ConnectionCapForFdLimit(10, 1024), 1u);
}

}  // namespace
}  // namespace mirrord
