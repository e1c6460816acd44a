#include "daemon/served_traffic.h"

#include <string>

namespace mirrord {

ServedTraffic::ServedTraffic(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("mirrord_served_requests_total")
                       .Help("Client requests handled, by protocol (git, lfs, registry, hf).")
                       .Register(registry);
  auto& bytes = prometheus::BuildCounter()
                    .Name("mirrord_served_bytes_total")
                    .Help("Response body bytes sent to clients, by protocol.")
                    .Register(registry);
  for (size_t i = 0; i < kServedProtocols.size(); ++i) {
    const prometheus::Labels labels = {{"protocol", std::string(kServedProtocols[i])}};
    counters_[i] = Counters{&requests.Add(labels), &bytes.Add(labels)};
  }
}

ServedTraffic::Counters ServedTraffic::For(std::string_view protocol) const {
  for (size_t i = 0; i < kServedProtocols.size(); ++i) {
    if (kServedProtocols[i] == protocol) return counters_[i];
  }
  return counters_[0];
}

CountingExchange::CountingExchange(HttpExchange& inner, ServedTraffic::Counters counters)
    : inner_(inner), counters_(counters) {
  counters_.requests->Increment();
}

boost::asio::awaitable<void> CountingExchange::Respond(HttpResponse response) {
  const double size =
      request().method() == http::verb::head ? 0 : static_cast<double>(response.body().size());
  co_await inner_.Respond(std::move(response));
  counters_.bytes->Increment(size);
}

boost::asio::awaitable<bool> CountingExchange::BeginStream(
    http::response<http::empty_body> header) {
  co_return co_await inner_.BeginStream(std::move(header));
}

boost::asio::awaitable<bool> CountingExchange::BeginSizedStream(
    http::response<http::empty_body> header, uint64_t length) {
  co_return co_await inner_.BeginSizedStream(std::move(header), length);
}

boost::asio::awaitable<bool> CountingExchange::Write(std::string_view data) {
  const bool taken = co_await inner_.Write(data);
  if (taken) counters_.bytes->Increment(static_cast<double>(data.size()));
  co_return taken;
}

boost::asio::awaitable<void> CountingExchange::EndStream() { co_await inner_.EndStream(); }

boost::asio::awaitable<bool> CountingExchange::SendFile(http::response<http::empty_body> header,
                                                        int fd, uint64_t offset, uint64_t length) {
  const bool head = request().method() == http::verb::head;
  const bool sent = co_await inner_.SendFile(std::move(header), fd, offset, length);
  if (sent && !head) counters_.bytes->Increment(static_cast<double>(length));
  co_return sent;
}

boost::asio::awaitable<bool> CountingExchange::SendPieces(http::response<http::empty_body> header,
                                                          std::vector<BodyPiece> pieces) {
  const bool head = request().method() == http::verb::head;
  uint64_t length = 0;
  for (const BodyPiece& p : pieces) length += p.length;
  const bool sent = co_await inner_.SendPieces(std::move(header), std::move(pieces));
  if (sent && !head) counters_.bytes->Increment(static_cast<double>(length));
  co_return sent;
}

}  // namespace mirrord
