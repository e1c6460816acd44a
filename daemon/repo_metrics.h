// RepoMetrics: the per-repo gauges behind the "slowest / stalest repo" dashboards:
//   mirrord_repo_last_success_timestamp_seconds{repo}  end of the last successful sync
//   mirrord_repo_last_sync_duration_seconds{repo}      wall time of the last finished sync
//   mirrord_repo_last_sync_bytes{repo}                 bytes fetched by it (git + LFS)
//   mirrord_repo_last_sync_succeeded{repo}             1 when it succeeded, else 0
// Label cardinality: `repo` appears on these four gauges only (no histogram or counter
// carries it), takes only names an operator registered (never a client's request path),
// and a repo's series are removed with the repo: 10,000 repos are 40,000 series.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string_view>

namespace mirrord {

class RepoMetrics {
 public:
  // Registers the families in `registry`, which must outlive this.
  explicit RepoMetrics(prometheus::Registry& registry);

  // A finished sync of `repo` (`finished_unix`: when it ended, unix seconds).
  void RecordSync(std::string_view repo, bool succeeded, double seconds, uint64_t bytes,
                  int64_t finished_unix);
  // What the catalog knows at start: the last success (0: never; no sync series yet).
  void SetLastSuccess(std::string_view repo, int64_t unix_seconds);
  // Drops every series of `repo` (removed from mirrord).
  void Forget(std::string_view repo);

 private:
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& last_duration_;
  prometheus::Family<prometheus::Gauge>& last_bytes_;
  prometheus::Family<prometheus::Gauge>& last_succeeded_;
};

}  // namespace mirrord
