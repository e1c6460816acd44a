// QueueDepth: how the waiting jobs of a JobQueue split between those a node could claim
// now and those held back, by the rules JobQueue::Claim applies (storage/queue_rules.h).
#pragma once

#include <cstdint>
#include <vector>

#include "storage/job_queue.h"

namespace mirrord {

struct QueueDepth {
  int64_t ready = 0;    // claimable now by a node with a free slot
  int64_t delayed = 0;  // waiting for a retry delay, a paused host, the per-host limit or
                        // the end of the same repo's running job
  int64_t running = 0;  // running on any node
};

// `jobs`: JobQueue::List(); `paused`: JobQueue::PausedHosts(now_ms);
// `max_running_per_host` as in ClaimRequest (<= 0: no limit).
QueueDepth CountQueueDepth(const std::vector<QueuedJob>& jobs,
                           const std::vector<PausedHost>& paused, int64_t now_ms,
                           int max_running_per_host);

}  // namespace mirrord
