#include "storage/queue_rules.h"

#include <algorithm>
#include <tuple>

namespace mirrord {

QueuedJob CoalesceJobs(QueuedJob kept, const QueuedJob& incoming) {
  if (incoming.priority < kept.priority) {
    kept.priority = incoming.priority;
    kept.trigger = incoming.trigger;
  }
  kept.not_before_ms = std::min(kept.not_before_ms, incoming.not_before_ms);
  kept.pushed_at_ms = std::max(kept.pushed_at_ms, incoming.pushed_at_ms);
  if (kept.host.empty()) kept.host = incoming.host;
  if (!incoming.commit.empty()) kept.commit = incoming.commit;
  return kept;
}

bool ClaimsBefore(const QueuedJob& a, const QueuedJob& b) {
  return std::tie(a.priority, a.not_before_ms, a.queued_at_ms, a.run_id) <
         std::tie(b.priority, b.not_before_ms, b.queued_at_ms, b.run_id);
}

ClaimState ClaimStateOf(const std::vector<QueuedJob>& jobs, const std::vector<PausedHost>& paused,
                        int64_t now_ms, int max_running_per_host) {
  ClaimState state;
  state.now_ms = now_ms;
  state.max_running_per_host = max_running_per_host;
  for (const PausedHost& p : paused) {
    if (p.until_ms > now_ms) state.paused_hosts.insert(p.host);
  }
  for (const QueuedJob& j : jobs) {
    if (!j.running) continue;
    state.running_keys.insert(QueueKey(j));
    ++state.running_per_host[j.host];
  }
  return state;
}

bool IsClaimable(const QueuedJob& job, const ClaimState& state) {
  if (job.running || job.not_before_ms > state.now_ms) return false;
  if (state.running_keys.contains(QueueKey(job))) return false;
  if (state.max_running_per_host > 0) {
    auto it = state.running_per_host.find(job.host);
    if (it != state.running_per_host.end() && it->second >= state.max_running_per_host) {
      return false;
    }
  }
  const bool manual = job.priority == static_cast<int>(JobPriority::kManual);
  return manual || !state.paused_hosts.contains(job.host);
}

std::optional<size_t> PickClaimable(const std::vector<QueuedJob>& jobs, const ClaimState& state) {
  std::optional<size_t> best;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!IsClaimable(jobs[i], state)) continue;
    if (!best || ClaimsBefore(jobs[i], jobs[*best])) best = i;
  }
  return best;
}

}  // namespace mirrord
