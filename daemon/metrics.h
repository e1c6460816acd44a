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
#include <vector>

#include "daemon/process_metrics.h"
#include "daemon/repo_metrics.h"
#include "daemon/served_traffic.h"

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
  // "12 repos, 2 syncing, 1 failed" from the gauges above (cheap: no catalog read), for
  // systemd's STATUS= line.
  std::string StatusLine() const;

  // Sync latency, measured from what triggered a sync to the moment its result is servable.
  // `trigger` is "webhook", "poll" or "manual".
  void RecordTriggerToServable(std::string_view trigger, double seconds);
  // From the upstream push (the push time a webhook payload carries: repository.pushed_at,
  // whole seconds, so an observation can be up to 1 s long) to servable.
  // Both latencies end when the new refs are published (before maintenance).
  void RecordPushToServable(double seconds);
  // Syncs waiting to run (queued, not yet started): `ready` could be claimed now, `delayed`
  // wait for a retry delay, a paused host, the per-host limit or their repo's running sync.
  void SetQueueDepth(int64_t ready, int64_t delayed);
  // One failed sync by reason: "not_found", "permission_denied", "rate_limited",
  // "unavailable", "timeout", "data_loss", "lfs", "disk", "other".
  void RecordSyncFailure(std::string_view reason);
  // One webhook delivery: `event` is the X-GitHub-Event ("push", "ping", ...; "other" for
  // events mirrord does not handle); `outcome` is "queued", "ignored", "duplicate",
  // "unauthorized", "too_large" or "bad_request".
  void RecordWebhookDelivery(std::string_view event, std::string_view outcome);
  // One poll of an upstream's ref advertisement: `result` is "changed", "unchanged" or
  // "failed".
  void RecordPoll(std::string_view result);
  // Upstream hosts paused by a rate limit right now.
  void SetUpstreamsPaused(int64_t paused);
  void AddLfsFetchedBytes(uint64_t bytes);
  // Bytes on disk: `kind` is "git" (the bare mirrors) or "lfs" (the blob store).
  void SetStoreBytes(std::string_view kind, uint64_t bytes);

  // --- LFS quarantine ---
  // Bytes of failed-verification copies kept in the blob store's quarantine now
  // (mirrord_lfs_quarantine_bytes), and copies dropped to keep it within
  // [lfs] quarantine_budget / quarantine_per_object (mirrord_lfs_quarantine_dropped_total).
  void SetLfsQuarantineBytes(uint64_t bytes);
  void AddLfsQuarantineDropped(uint64_t copies);
  // --- end LFS quarantine ---

  // --- per repo, served traffic, build and process (issue 12 dashboards) ---
  // mirrord_repo_* gauges (daemon/repo_metrics.h).
  RepoMetrics& repos() { return repos_by_name_; }
  // mirrord_served_* by protocol (daemon/served_traffic.h).
  ServedTraffic& served() { return served_; }
  // mirrord_build_info{version} = 1.
  void SetBuildInfo(std::string_view version);
  // process_* are read from /proc/self at each Render() (daemon/process_metrics.h).
  // --- end per repo, served traffic, build and process ---
  // --- build stage ---
  // One finished build job: outcome is "succeeded", "failed" or "cancelled"
  // (mirrord_builds_total, mirrord_build_duration_seconds).
  void RecordBuild(std::string_view outcome, double seconds);
  // From the upstream push a webhook reported (carried on the sync and its build jobs) to
  // the built image's tags being served (mirrord_push_to_image_seconds).
  void RecordPushToImage(double seconds);
  // --- end build stage ---
  // --- image pushes (issue 14) ---
  // One finished push job to [registries] `registry`: outcome is "succeeded", "failed" or
  // "cancelled" (mirrord_image_pushes_total, mirrord_image_push_duration_seconds); what it
  // sent, counted whatever the outcome (mirrord_image_push_bytes_total,
  // mirrord_image_push_blobs_total{action="skipped|mounted|uploaded"}). Registry names come
  // from the config only (bounded labels).
  struct ImagePushCounts {
    uint64_t bytes_sent = 0;
    uint64_t skipped = 0;
    uint64_t mounted = 0;
    uint64_t uploaded = 0;
  };
  void RecordImagePush(std::string_view registry, std::string_view outcome, double seconds,
                       const ImagePushCounts& counts);
  // Creates the series of `registries` at zero (so that dashboards and rate() see them
  // before the first push).
  void AddImagePushRegistries(const std::vector<std::string>& registries);
  // --- end image pushes ---

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

  // --- instruments kept elsewhere (e.g. daemon/hf_metrics.h) ---
  // The registry Render() exposes, for components that register their own families.
  prometheus::Registry& registry() { return *registry_; }
  // --- end instruments kept elsewhere ---

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& syncs_;
  prometheus::Family<prometheus::Histogram>& sync_duration_;
  prometheus::Counter& fetched_bytes_;
  prometheus::Family<prometheus::Gauge>& repos_;
  prometheus::Gauge& syncs_running_;
  prometheus::Family<prometheus::Histogram>& trigger_to_servable_;
  prometheus::Histogram& push_to_servable_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Counter>& sync_failures_;
  prometheus::Family<prometheus::Counter>& webhook_deliveries_;
  prometheus::Family<prometheus::Counter>& polls_;
  prometheus::Gauge& upstreams_paused_;
  prometheus::Counter& lfs_fetched_bytes_;
  prometheus::Family<prometheus::Gauge>& store_bytes_;
  // LFS quarantine (set in the constructor's body).
  prometheus::Gauge* lfs_quarantine_bytes_ = nullptr;
  prometheus::Counter* lfs_quarantine_dropped_ = nullptr;
  // Per repo, served traffic, build and process.
  RepoMetrics repos_by_name_{*registry_};
  ServedTraffic served_{*registry_};
  prometheus::Family<prometheus::Gauge>& build_info_ =
      prometheus::BuildGauge()
          .Name("mirrord_build_info")
          .Help("Always 1; the running mirrord's version in the label.")
          .Register(*registry_);
  ProcessMetrics process_;
  // Build stage (set in the constructor's body).
  prometheus::Family<prometheus::Counter>* builds_ = nullptr;
  prometheus::Family<prometheus::Histogram>* build_duration_ = nullptr;
  prometheus::Histogram* push_to_image_ = nullptr;
  // Image pushes (set in the constructor's body).
  prometheus::Family<prometheus::Counter>* image_pushes_ = nullptr;
  prometheus::Family<prometheus::Histogram>* image_push_duration_ = nullptr;
  prometheus::Family<prometheus::Counter>* image_push_bytes_ = nullptr;
  prometheus::Family<prometheus::Counter>* image_push_blobs_ = nullptr;
};

}  // namespace mirrord
