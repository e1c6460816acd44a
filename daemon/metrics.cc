#include "daemon/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <sstream>

namespace mirrord {
namespace {
constexpr std::array<std::string_view, 3> kOutcomes = {"succeeded", "failed", "cancelled"};
constexpr std::array<std::string_view, 4> kRepoStates = {"new", "syncing", "ready", "failed"};
constexpr std::array<std::string_view, 3> kTriggers = {"webhook", "poll", "manual"};
constexpr std::array<std::string_view, 9> kFailureReasons = {
    "not_found", "permission_denied", "rate_limited", "unavailable",
    "timeout",   "data_loss",         "lfs",          "disk",
    "other"};
constexpr std::array<std::string_view, 5> kWebhookEvents = {"push", "create", "delete", "ping",
                                                            "repository"};
constexpr std::array<std::string_view, 6> kWebhookOutcomes = {
    "queued", "ignored", "duplicate", "unauthorized", "too_large", "bad_request"};
constexpr std::array<std::string_view, 3> kPollResults = {"changed", "unchanged", "failed"};
constexpr std::array<std::string_view, 2> kStoreKinds = {"git", "lfs"};

// Push-to-servable on a LAN is sub-second; a poll-triggered sync waits up to the interval.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400};
  return buckets;
}

// From sub-second incremental fetches to multi-hour initial mirrors of weight repos.
const prometheus::Histogram::BucketBoundaries& SyncDurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.1, 0.25, 0.5, 1,   2.5,  5,    10,
                                                               30,  60,   300, 900, 3600, 14400};
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
                         .Add({})),
      trigger_to_servable_(prometheus::BuildHistogram()
                               .Name("mirrord_sync_trigger_to_servable_seconds")
                               .Help("From a sync's trigger (webhook, poll, manual) to its "
                                     "result being servable.")
                               .Register(*registry_)),
      push_to_servable_(prometheus::BuildHistogram()
                            .Name("mirrord_push_to_servable_seconds")
                            .Help("From an upstream push (time in the webhook payload) to the "
                                  "pushed refs being servable.")
                            .Register(*registry_)
                            .Add({}, LatencyBuckets())),
      queue_depth_(prometheus::BuildGauge()
                       .Name("mirrord_sync_queue_depth")
                       .Help("Syncs queued and not yet started: ready (claimable now) or "
                             "delayed (retry delay, paused host, per-host limit).")
                       .Register(*registry_)),
      sync_failures_(prometheus::BuildCounter()
                         .Name("mirrord_sync_failures_total")
                         .Help("Failed syncs by reason.")
                         .Register(*registry_)),
      webhook_deliveries_(prometheus::BuildCounter()
                              .Name("mirrord_webhook_deliveries_total")
                              .Help("Webhook deliveries received, by event and outcome.")
                              .Register(*registry_)),
      polls_(prometheus::BuildCounter()
                 .Name("mirrord_polls_total")
                 .Help("Polls of upstream ref advertisements, by result.")
                 .Register(*registry_)),
      upstreams_paused_(prometheus::BuildGauge()
                            .Name("mirrord_upstreams_paused")
                            .Help("Upstream hosts paused by a rate limit right now.")
                            .Register(*registry_)
                            .Add({})),
      lfs_fetched_bytes_(
          prometheus::BuildCounter()
              .Name("mirrord_lfs_fetched_bytes_total")
              .Help("Bytes of LFS objects received from upstreams by the LFS phase of "
                    "successful syncs (not pull-through fetches).")
              .Register(*registry_)
              .Add({})),
      store_bytes_(prometheus::BuildGauge()
                       .Name("mirrord_store_bytes")
                       .Help("Bytes on disk, by kind (git mirrors, LFS blob store).")
                       .Register(*registry_)) {
  // Create every labelled series up front so dashboards see zeros, not gaps.
  for (auto outcome : kOutcomes) {
    syncs_.Add({{"outcome", std::string(outcome)}});
    sync_duration_.Add({{"outcome", std::string(outcome)}}, SyncDurationBuckets());
  }
  for (auto state : kRepoStates) repos_.Add({{"state", std::string(state)}});
  for (auto trigger : kTriggers) {
    trigger_to_servable_.Add({{"trigger", std::string(trigger)}}, LatencyBuckets());
  }
  for (auto reason : kFailureReasons) sync_failures_.Add({{"reason", std::string(reason)}});
  for (auto event : kWebhookEvents) {
    for (auto outcome : kWebhookOutcomes) {
      webhook_deliveries_.Add({{"event", std::string(event)}, {"outcome", std::string(outcome)}});
    }
  }
  for (auto result : kPollResults) polls_.Add({{"result", std::string(result)}});
  for (auto kind : kStoreKinds) store_bytes_.Add({{"kind", std::string(kind)}});
  queue_depth_.Add({{"state", "ready"}});
  queue_depth_.Add({{"state", "delayed"}});
  // LFS quarantine.
  lfs_quarantine_bytes_ = &prometheus::BuildGauge()
                               .Name("mirrord_lfs_quarantine_bytes")
                               .Help(
                                   "Bytes of LFS data that failed verification, kept in the "
                                   "quarantine (bounded by [lfs] quarantine_budget).")
                               .Register(*registry_)
                               .Add({});
  lfs_quarantine_dropped_ =
      &prometheus::BuildCounter()
           .Name("mirrord_lfs_quarantine_dropped_total")
           .Help(
               "Quarantined LFS copies deleted to stay within [lfs] quarantine_budget and "
               "quarantine_per_object (oldest first).")
           .Register(*registry_)
           .Add({});
  // Build stage.
  builds_ = &prometheus::BuildCounter()
                 .Name("mirrord_builds_total")
                 .Help("Finished build jobs by outcome.")
                 .Register(*registry_);
  build_duration_ = &prometheus::BuildHistogram()
                         .Name("mirrord_build_duration_seconds")
                         .Help(
                             "Duration of build jobs, from start to the image served or the "
                             "failure.")
                         .Register(*registry_);
  for (auto outcome : kOutcomes) {
    builds_->Add({{"outcome", std::string(outcome)}});
    build_duration_->Add({{"outcome", std::string(outcome)}}, SyncDurationBuckets());
  }
  push_to_image_ = &prometheus::BuildHistogram()
                        .Name("mirrord_push_to_image_seconds")
                        .Help(
                            "From an upstream push (time in the webhook payload) to the image "
                            "built from it being pullable.")
                        .Register(*registry_)
                        .Add({}, LatencyBuckets());
  // Image pushes.
  image_pushes_ = &prometheus::BuildCounter()
                       .Name("mirrord_image_pushes_total")
                       .Help("Finished push jobs (image to a [registries] entry) by outcome.")
                       .Register(*registry_);
  image_push_duration_ = &prometheus::BuildHistogram()
                              .Name("mirrord_image_push_duration_seconds")
                              .Help(
                                  "Duration of push jobs, from start to the last tag or the "
                                  "failure.")
                              .Register(*registry_);
  image_push_bytes_ = &prometheus::BuildCounter()
                           .Name("mirrord_image_push_bytes_total")
                           .Help("Blob bytes sent to registries by push jobs (resends counted).")
                           .Register(*registry_);
  image_push_blobs_ = &prometheus::BuildCounter()
                           .Name("mirrord_image_push_blobs_total")
                           .Help(
                               "Blobs of pushed images by what the push did: skipped (the "
                               "registry had it), mounted (from another repository), uploaded.")
                           .Register(*registry_);
}

void Metrics::RecordBuild(std::string_view outcome, double seconds) {
  prometheus::Labels labels{{"outcome", std::string(outcome)}};
  builds_->Add(labels).Increment();
  build_duration_->Add(labels, SyncDurationBuckets()).Observe(seconds);
}

void Metrics::RecordPushToImage(double seconds) { push_to_image_->Observe(seconds); }

void Metrics::AddImagePushRegistries(const std::vector<std::string>& registries) {
  for (const std::string& reg : registries) {
    for (auto outcome : kOutcomes) {
      image_pushes_->Add({{"registry", reg}, {"outcome", std::string(outcome)}});
    }
    image_push_duration_->Add({{"registry", reg}}, SyncDurationBuckets());
    image_push_bytes_->Add({{"registry", reg}});
    for (const char* action : {"skipped", "mounted", "uploaded"}) {
      image_push_blobs_->Add({{"registry", reg}, {"action", action}});
    }
  }
}

void Metrics::RecordImagePush(std::string_view registry, std::string_view outcome, double seconds,
                              const ImagePushCounts& counts) {
  const std::string reg(registry);
  image_pushes_->Add({{"registry", reg}, {"outcome", std::string(outcome)}}).Increment();
  image_push_duration_->Add({{"registry", reg}}, SyncDurationBuckets()).Observe(seconds);
  image_push_bytes_->Add({{"registry", reg}}).Increment(static_cast<double>(counts.bytes_sent));
  for (auto [action, n] :
       {std::pair{"skipped", counts.skipped}, std::pair{"mounted", counts.mounted},
        std::pair{"uploaded", counts.uploaded}}) {
    image_push_blobs_->Add({{"registry", reg}, {"action", action}})
        .Increment(static_cast<double>(n));
  }
}

void Metrics::SetLfsQuarantineBytes(uint64_t bytes) {
  lfs_quarantine_bytes_->Set(static_cast<double>(bytes));
}

void Metrics::AddLfsQuarantineDropped(uint64_t copies) {
  lfs_quarantine_dropped_->Increment(static_cast<double>(copies));
}

void Metrics::RecordSync(std::string_view outcome, double seconds) {
  prometheus::Labels labels{{"outcome", std::string(outcome)}};
  syncs_.Add(labels).Increment();
  // Add() returns the existing series for known labels; the boundaries only matter on creation.
  sync_duration_.Add(labels, SyncDurationBuckets()).Observe(seconds);
}

void Metrics::AddFetchedBytes(uint64_t bytes) {
  fetched_bytes_.Increment(static_cast<double>(bytes));
}

void Metrics::SetReposByState(const std::map<std::string, int64_t>& counts) {
  for (auto state : kRepoStates) {
    auto it = counts.find(std::string(state));
    repos_.Add({{"state", std::string(state)}})
        .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
  }
}

void Metrics::SetSyncsRunning(int64_t running) { syncs_running_.Set(static_cast<double>(running)); }

std::string Metrics::StatusLine() const {
  int64_t total = 0;
  int64_t failed = 0;
  for (auto state : kRepoStates) {
    auto n = static_cast<int64_t>(repos_.Add({{"state", std::string(state)}}).Value());
    total += n;
    if (state == "failed") failed = n;
  }
  std::string line = std::to_string(total) + (total == 1 ? " repo, " : " repos, ") +
                     std::to_string(static_cast<int64_t>(syncs_running_.Value())) + " syncing";
  if (failed > 0) line += ", " + std::to_string(failed) + " failed";
  return line;
}

void Metrics::RecordTriggerToServable(std::string_view trigger, double seconds) {
  trigger_to_servable_.Add({{"trigger", std::string(trigger)}}, LatencyBuckets()).Observe(seconds);
}

void Metrics::RecordPushToServable(double seconds) { push_to_servable_.Observe(seconds); }

void Metrics::SetQueueDepth(int64_t ready, int64_t delayed) {
  queue_depth_.Add({{"state", "ready"}}).Set(static_cast<double>(ready));
  queue_depth_.Add({{"state", "delayed"}}).Set(static_cast<double>(delayed));
}

void Metrics::RecordSyncFailure(std::string_view reason) {
  sync_failures_.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::RecordWebhookDelivery(std::string_view event, std::string_view outcome) {
  bool known =
      std::find(kWebhookEvents.begin(), kWebhookEvents.end(), event) != kWebhookEvents.end();
  webhook_deliveries_
      .Add({{"event", known ? std::string(event) : "other"}, {"outcome", std::string(outcome)}})
      .Increment();
}

void Metrics::RecordPoll(std::string_view result) {
  polls_.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::SetUpstreamsPaused(int64_t paused) {
  upstreams_paused_.Set(static_cast<double>(paused));
}

void Metrics::AddLfsFetchedBytes(uint64_t bytes) {
  lfs_fetched_bytes_.Increment(static_cast<double>(bytes));
}

void Metrics::SetStoreBytes(std::string_view kind, uint64_t bytes) {
  store_bytes_.Add({{"kind", std::string(kind)}}).Set(static_cast<double>(bytes));
}

void Metrics::SetBuildInfo(std::string_view version) {
  build_info_.Add({{"version", std::string(version)}}).Set(1);
}

std::string Metrics::Render() const {
  std::ostringstream out;
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : process_.Collect()) families.push_back(std::move(f));
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace mirrord
