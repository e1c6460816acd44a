// ServedTraffic: what mirrord serves to clients, by protocol:
//   mirrord_served_requests_total{protocol}  requests handled
//   mirrord_served_bytes_total{protocol}     response body bytes handed to clients
// `protocol` is one of kServedProtocols ("git", "lfs", "registry", "hf"): a fixed set, so
// no client input ever becomes a label value.
// CountingExchange wraps the exchange a handler answers on and counts what it sends; the
// daemon wraps each protocol's route with it (daemon/main.cc).
// Thread-safety: ServedTraffic is thread-safe; a CountingExchange belongs to its request.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <string_view>

#include "daemon/http_exchange.h"

namespace mirrord {

inline constexpr std::array<std::string_view, 4> kServedProtocols = {"git", "lfs", "registry",
                                                                     "hf"};

class ServedTraffic {
 public:
  // The counters of one protocol.
  struct Counters {
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* bytes = nullptr;
  };
  // Registers the families (every protocol at 0) in `registry`, which must outlive this.
  explicit ServedTraffic(prometheus::Registry& registry);
  // `protocol` must be one of kServedProtocols (else the "git" counters: a programming error
  // must not add a label value).
  Counters For(std::string_view protocol) const;

 private:
  std::array<Counters, kServedProtocols.size()> counters_;
};

// An HttpExchange that forwards everything to `inner` and counts the request and the body
// bytes sent (a response's body, each streamed chunk the client took, a file sent whole)
// into `counters`.
class CountingExchange final : public HttpExchange {
 public:
  CountingExchange(HttpExchange& inner, ServedTraffic::Counters counters);

  const HttpRequest& request() const override { return inner_.request(); }
  const std::string& path() const override { return inner_.path(); }
  const std::map<std::string, std::string>& query() const override { return inner_.query(); }
  boost::asio::any_io_executor executor() const override { return inner_.executor(); }
  const std::string& peer() const override { return inner_.peer(); }
  boost::asio::ip::tcp::endpoint local_endpoint() const override { return inner_.local_endpoint(); }
  bool secure() const override { return inner_.secure(); }
  RequestAudit& audit() override { return inner_.audit(); }
  boost::asio::awaitable<void> Respond(HttpResponse response) override;
  boost::asio::awaitable<bool> BeginStream(http::response<http::empty_body> header) override;
  boost::asio::awaitable<bool> BeginSizedStream(http::response<http::empty_body> header,
                                                uint64_t length) override;
  boost::asio::awaitable<bool> Write(std::string_view data) override;
  boost::asio::awaitable<void> EndStream() override;
  boost::asio::awaitable<bool> SendFile(http::response<http::empty_body> header, int fd,
                                        uint64_t offset, uint64_t length) override;
  boost::asio::awaitable<bool> SendPieces(http::response<http::empty_body> header,
                                          std::vector<BodyPiece> pieces) override;
  void Abort() override { inner_.Abort(); }

 private:
  HttpExchange& inner_;
  ServedTraffic::Counters counters_;
};

}  // namespace mirrord
