#include "daemon/repo_metrics.h"

#include <string>

namespace mirrord {
namespace {

prometheus::Family<prometheus::Gauge>& Gauges(prometheus::Registry& registry,
                                              const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Labels RepoLabel(std::string_view repo) { return {{"repo", std::string(repo)}}; }

}  // namespace

RepoMetrics::RepoMetrics(prometheus::Registry& registry)
    : last_success_(Gauges(registry, "mirrord_repo_last_success_timestamp_seconds",
                           "End of the repo's last successful sync (unix seconds; 0: never).")),
      last_duration_(Gauges(registry, "mirrord_repo_last_sync_duration_seconds",
                            "Wall time of the repo's last finished sync.")),
      last_bytes_(Gauges(registry, "mirrord_repo_last_sync_bytes",
                         "Bytes the repo's last finished sync fetched (git and LFS).")),
      last_succeeded_(Gauges(registry, "mirrord_repo_last_sync_succeeded",
                             "1 when the repo's last finished sync succeeded, else 0.")) {}

void RepoMetrics::RecordSync(std::string_view repo, bool succeeded, double seconds, uint64_t bytes,
                             int64_t finished_unix) {
  const prometheus::Labels labels = RepoLabel(repo);
  if (succeeded)
    last_success_.Add(labels).Set(static_cast<double>(finished_unix));
  else
    last_success_.Add(labels);  // present (0 when never) so that stale repos show up
  last_duration_.Add(labels).Set(seconds);
  last_bytes_.Add(labels).Set(static_cast<double>(bytes));
  last_succeeded_.Add(labels).Set(succeeded ? 1 : 0);
}

void RepoMetrics::SetLastSuccess(std::string_view repo, int64_t unix_seconds) {
  last_success_.Add(RepoLabel(repo)).Set(static_cast<double>(unix_seconds));
}

void RepoMetrics::Forget(std::string_view repo) {
  const prometheus::Labels labels = RepoLabel(repo);
  for (auto* family : {&last_success_, &last_duration_, &last_bytes_, &last_succeeded_}) {
    if (family->Has(labels)) family->Remove(&family->Add(labels));
  }
}

}  // namespace mirrord
