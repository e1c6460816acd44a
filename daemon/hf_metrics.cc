// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_metrics.h"

#include <chrono>
#include <string>
#include <utility>

#include "daemon/hf_paths.h"

namespace mirrord {
namespace {

namespace net = boost::asio;

constexpr std::array<std::string_view, 4> kCodeClasses = {"2xx", "3xx", "4xx", "5xx"};

// From a cached HEAD (under a millisecond) to a multi-gigabyte download on a LAN.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 300, 1800};
  return buckets;
}

// The exchange as the handler sees it, noting the status and body bytes of its answer.
class RecordingExchange final : public HttpExchange {
 public:
  explicit RecordingExchange(HttpExchange& inner)
      : inner_(inner), head_(inner.request().method() == http::verb::head) {}

  unsigned status() const { return status_; }
  uint64_t bytes() const { return bytes_; }

  const HttpRequest& request() const override { return inner_.request(); }
  const std::string& path() const override { return inner_.path(); }
  const std::map<std::string, std::string>& query() const override { return inner_.query(); }
  net::any_io_executor executor() const override { return inner_.executor(); }
  const std::string& peer() const override { return inner_.peer(); }
  net::ip::tcp::endpoint local_endpoint() const override { return inner_.local_endpoint(); }
  bool secure() const override { return inner_.secure(); }
  RequestAudit& audit() override { return inner_.audit(); }

  net::awaitable<void> Respond(HttpResponse response) override {
    status_ = response.result_int();
    const uint64_t size = head_ ? 0 : response.body().size();
    co_await inner_.Respond(std::move(response));
    bytes_ += size;
  }
  net::awaitable<bool> BeginStream(http::response<http::empty_body> header) override {
    status_ = header.result_int();
    co_return co_await inner_.BeginStream(std::move(header));
  }
  net::awaitable<bool> BeginSizedStream(http::response<http::empty_body> header,
                                        uint64_t length) override {
    status_ = header.result_int();
    co_return co_await inner_.BeginSizedStream(std::move(header), length);
  }
  net::awaitable<bool> Write(std::string_view data) override {
    const bool ok = co_await inner_.Write(data);
    if (ok && !head_) bytes_ += data.size();
    co_return ok;
  }
  net::awaitable<void> EndStream() override { co_await inner_.EndStream(); }
  net::awaitable<bool> SendFile(http::response<http::empty_body> header, int fd, uint64_t offset,
                                uint64_t length) override {
    status_ = header.result_int();
    const bool ok = co_await inner_.SendFile(std::move(header), fd, offset, length);
    if (ok && !head_) bytes_ += length;
    co_return ok;
  }
  net::awaitable<bool> SendPieces(http::response<http::empty_body> header,
                                  std::vector<BodyPiece> pieces) override {
    status_ = header.result_int();
    uint64_t length = 0;
    for (const BodyPiece& p : pieces) length += p.length;
    const bool ok = co_await inner_.SendPieces(std::move(header), std::move(pieces));
    if (ok && !head_) bytes_ += length;
    co_return ok;
  }
  void Abort() override { inner_.Abort(); }

 private:
  HttpExchange& inner_;
  const bool head_;
  unsigned status_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace

std::string_view HfEndpointLabel(std::string_view raw_target, bool resolve) {
  if (resolve) return "resolve";
  Result<HfApiTarget> target = ParseHfApiTarget(raw_target);
  if (!target.ok()) return "invalid";
  switch (target->kind) {
    case HfApiTarget::Kind::kInfo:
      return "api-model";
    case HfApiTarget::Kind::kTree:
      return "tree";
    case HfApiTarget::Kind::kPathsInfo:
      return "paths-info";
    case HfApiTarget::Kind::kRefs:
      return "refs";
  }
  return "invalid";
}

HfMetrics::HfMetrics(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("mirrord_hf_requests_total")
                       .Help(
                           "Hugging Face endpoint requests answered, by endpoint and status "
                           "class.")
                       .Register(registry);
  auto& bytes = prometheus::BuildCounter()
                    .Name("mirrord_hf_response_bytes_total")
                    .Help("Hugging Face endpoint response body bytes, by endpoint.")
                    .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("mirrord_hf_request_duration_seconds")
                       .Help(
                           "Hugging Face endpoint time to answer (body included), by "
                           "endpoint.")
                       .Register(registry);
  for (size_t i = 0; i < kHfEndpoints.size(); ++i) {
    const std::string endpoint(kHfEndpoints[i]);
    for (size_t c = 0; c < kCodeClasses.size(); ++c) {
      endpoints_[i].requests[c] =
          &requests.Add({{"endpoint", endpoint}, {"code", std::string(kCodeClasses[c])}});
    }
    endpoints_[i].bytes = &bytes.Add({{"endpoint", endpoint}});
    endpoints_[i].duration = &duration.Add({{"endpoint", endpoint}}, DurationBuckets());
  }
}

HfMetrics::Endpoint& HfMetrics::For(std::string_view endpoint) {
  for (size_t i = 0; i < kHfEndpoints.size(); ++i) {
    if (kHfEndpoints[i] == endpoint) return endpoints_[i];
  }
  return endpoints_.back();  // "invalid"
}

void HfMetrics::Record(std::string_view endpoint, unsigned status, uint64_t body_bytes,
                       double seconds) {
  Endpoint& e = For(endpoint);
  size_t cls = 3;  // no answer (the server's 500), or a status outside 2xx-5xx
  if (status >= 200 && status < 600) cls = status / 100 - 2;
  e.requests[cls]->Increment();
  e.bytes->Increment(static_cast<double>(body_bytes));
  e.duration->Observe(seconds);
}

net::awaitable<void> HfMetrics::Meter(HttpExchange& ex, bool resolve, HttpHandler handler) {
  const auto start = std::chrono::steady_clock::now();
  const std::string_view endpoint = HfEndpointLabel(ex.request().target(), resolve);
  RecordingExchange recorder(ex);
  co_await handler(recorder);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  Record(endpoint, recorder.status(), recorder.bytes(), took.count());
}

}  // namespace mirrord
