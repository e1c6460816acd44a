#include "storage/queue_depth.h"

#include "storage/queue_rules.h"

namespace mirrord {

QueueDepth CountQueueDepth(const std::vector<QueuedJob>& jobs,
                           const std::vector<PausedHost>& paused, int64_t now_ms,
                           int max_running_per_host) {
  const ClaimState state = ClaimStateOf(jobs, paused, now_ms, max_running_per_host);
  QueueDepth depth;
  for (const QueuedJob& j : jobs) {
    if (j.running) {
      ++depth.running;
    } else {
      ++(IsClaimable(j, state) ? depth.ready : depth.delayed);
    }
  }
  return depth;
}

}  // namespace mirrord
