#include "daemon/queue_trigger.h"

#include "common/log.h"

namespace mirrord {

Result<EnqueueResult> QueueTrigger(JobQueue& queue, Catalog& catalog, QueuedJob job,
                                   const std::function<Result<int64_t>()>& record_run) {
  ASSIGN_OR_RETURN(std::optional<QueuedJob> absorbed, queue.CoalesceIntoQueued(job));
  if (absorbed) return EnqueueResult{std::move(*absorbed), true};
  ASSIGN_OR_RETURN(job.run_id, record_run());
  const int64_t run_id = job.run_id;
  Result<EnqueueResult> queued = queue.Enqueue(job);
  if (!queued.ok() || queued->coalesced) {
    // The run recorded above never runs: it failed to queue, or another run stands for it.
    if (Status s = catalog.DeleteQueuedRun(run_id); !s.ok()) {
      MLOG(Warning) << "catalog: " << s.ToString();
    }
  }
  return queued;
}

}  // namespace mirrord
