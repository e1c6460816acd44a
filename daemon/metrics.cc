#include "daemon/metrics.h"

#include <prometheus/text_serializer.h>

#include <array>
#include <sstream>

namespace mirrord {
namespace {
constexpr std::array<std::string_view, 3> kOutcomes = {"succeeded", "failed", "cancelled"};
constexpr std::array<std::string_view, 4> kRepoStates = {"new", "syncing", "ready", "failed"};

// From sub-second incremental fetches to multi-hour initial mirrors of weight repos.
const prometheus::Histogram::BucketBoundaries& SyncDurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400};
  return buckets;
}
}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      syncs_(prometheus::BuildCounter()
                 .Name("mirrord_syncs_total")
                 .Help("Finished repository syncs by outcome.")
                 .Register(*registry_)),
      sync_duration_(prometheus::BuildHistogram()
                         .Name("mirrord_sync_duration_seconds")
                         .Help("Wall time of finished repository syncs, by outcome.")
                         .Register(*registry_)),
      fetched_bytes_(prometheus::BuildCounter()
                         .Name("mirrord_fetched_bytes_total")
                         .Help("Bytes received from upstreams by git fetches.")
                         .Register(*registry_)
                         .Add({})),
      repos_(prometheus::BuildGauge()
                 .Name("mirrord_repos")
                 .Help("Mirrored repositories by state.")
                 .Register(*registry_)),
      syncs_running_(prometheus::BuildGauge()
                         .Name("mirrord_syncs_running")
                         .Help("Syncs running right now.")
                         .Register(*registry_)
                         .Add({})) {
  // Create every labelled series up front so dashboards see zeros, not gaps.
  for (auto outcome : kOutcomes) {
    syncs_.Add({{"outcome", std::string(outcome)}});
    sync_duration_.Add({{"outcome", std::string(outcome)}}, SyncDurationBuckets());
  }
  for (auto state : kRepoStates) repos_.Add({{"state", std::string(state)}});
}

void Metrics::RecordSync(std::string_view outcome, double seconds) {
  prometheus::Labels labels{{"outcome", std::string(outcome)}};
  syncs_.Add(labels).Increment();
  // Add() returns the existing series for known labels; the boundaries only matter on creation.
  sync_duration_.Add(labels, SyncDurationBuckets()).Observe(seconds);
}

void Metrics::AddFetchedBytes(uint64_t bytes) { fetched_bytes_.Increment(static_cast<double>(bytes)); }

void Metrics::SetReposByState(const std::map<std::string, int64_t>& counts) {
  for (auto state : kRepoStates) {
    auto it = counts.find(std::string(state));
    repos_.Add({{"state", std::string(state)}})
        .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
  }
}

void Metrics::SetSyncsRunning(int64_t running) { syncs_running_.Set(static_cast<double>(running)); }

std::string Metrics::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace mirrord
