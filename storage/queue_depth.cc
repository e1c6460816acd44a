#include "storage/queue_depth.h"

#include <map>
#include <set>
#include <string>

namespace mirrord {

QueueDepth CountQueueDepth(const std::vector<QueuedJob>& jobs,
                           const std::vector<PausedHost>& paused, int64_t now_ms,
                           int max_running_per_host) {
  std::set<std::string> paused_hosts;
  for (const PausedHost& p : paused) {
    if (p.until_ms > now_ms) paused_hosts.insert(p.host);
  }
  std::map<std::string, int> running_per_host;
  std::set<std::string> running_repos;
  QueueDepth depth;
  for (const QueuedJob& j : jobs) {
    if (!j.running) continue;
    ++depth.running;
    ++running_per_host[j.host];
    running_repos.insert(j.repo);
  }
  for (const QueuedJob& j : jobs) {
    if (j.running) continue;
    const bool manual = j.priority == static_cast<int>(JobPriority::kManual);
    const bool held =
        j.not_before_ms > now_ms || running_repos.count(j.repo) > 0 ||
        (!manual && paused_hosts.count(j.host) > 0) ||
        (max_running_per_host > 0 && running_per_host[j.host] >= max_running_per_host);
    ++(held ? depth.delayed : depth.ready);
  }
  return depth;
}

}  // namespace mirrord
