// Metrics: mirrord's Prometheus instruments and their text exposition for /metrics.
// Names follow Prometheus conventions (unit suffixes, _total for counters) so that
// `promtool check metrics` reports nothing.
// Thread-safety: all methods are thread-safe (prometheus-cpp instruments are atomic).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace mirrord {

class Metrics {
 public:
  Metrics();

  // One finished sync: outcome is "succeeded", "failed" or "cancelled".
  void RecordSync(std::string_view outcome, double seconds);
  void AddFetchedBytes(uint64_t bytes);
  // Replaces the repos-by-state gauge with these counts (states absent from the map are 0).
  void SetReposByState(const std::map<std::string, int64_t>& counts);
  void SetSyncsRunning(int64_t running);

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& syncs_;
  prometheus::Family<prometheus::Histogram>& sync_duration_;
  prometheus::Counter& fetched_bytes_;
  prometheus::Family<prometheus::Gauge>& repos_;
  prometheus::Gauge& syncs_running_;
};

}  // namespace mirrord
