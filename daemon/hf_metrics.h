// HfMetrics: per-endpoint metrics of the Hugging Face–compatible endpoint, in mirrord's one
// Prometheus registry (so /metrics shows them with the rest):
//
//   mirrord_hf_requests_total{endpoint, code}         requests answered; code is the status
//                                                     class "2xx", "3xx", "4xx" or "5xx"
//   mirrord_hf_response_bytes_total{endpoint}          response body bytes handed to the
//                                                     connection (HEAD: 0)
//   mirrord_hf_request_duration_seconds{endpoint}      from the handler's start to the end of
//                                                     its answer (a download's body included)
//
// `endpoint` is one of a fixed set, whatever the client sends (bounded cardinality: no repo,
// revision or path in a label): "api-model" (repo info), "tree", "paths-info", "refs",
// "resolve", and "invalid" for an /api/models|datasets/ URL that does not parse. Models and
// datasets share the labels.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string_view>

#include "daemon/http_exchange.h"

namespace mirrord {

inline constexpr std::array<std::string_view, 6> kHfEndpoints = {
    "api-model", "tree", "paths-info", "refs", "resolve", "invalid"};

// The endpoint label of a request: "resolve" for the resolve route, else the kind of
// /api/... URL `raw_target` is.
std::string_view HfEndpointLabel(std::string_view raw_target, bool resolve);

class HfMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit HfMetrics(prometheus::Registry& registry);

  // One answered request. `endpoint` must be one of kHfEndpoints (others count as
  // "invalid"); `status` 0 (no answer: the server sent its 500) counts as "5xx".
  void Record(std::string_view endpoint, unsigned status, uint64_t body_bytes, double seconds);

  // Runs `handler` with `ex` seen through a recorder of the status and body bytes it
  // answers with, then records the request under HfEndpointLabel(target, resolve).
  boost::asio::awaitable<void> Meter(HttpExchange& ex, bool resolve, HttpHandler handler);

 private:
  struct Endpoint {
    std::array<prometheus::Counter*, 4> requests{};  // 2xx..5xx
    prometheus::Counter* bytes = nullptr;
    prometheus::Histogram* duration = nullptr;
  };
  Endpoint& For(std::string_view endpoint);

  std::array<Endpoint, kHfEndpoints.size()> endpoints_;
};

}  // namespace mirrord
