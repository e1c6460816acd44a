// QueueTrigger: how every trigger (a requested sync, a build a sync or an operator asks
// for) becomes queued work: folded into the job already queued for its queue key when
// there is one (no run recorded: a burst of triggers costs one queue update each), else a
// catalog run is recorded and queued, and dropped again when the queue refused it or
// another job absorbed it meanwhile.
// Thread-safety: as the queue and the catalog (both thread-safe).
#pragma once

#include <functional>

#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

// Queues `job` (its run_id is ignored). `record_run` records the run a new job stands for
// and returns its id. On success: the job now standing for the trigger (its run id is the
// run to follow) and whether it coalesced into an existing one. On failure nothing of the
// trigger is left queued or recorded: the queue's, or record_run's, error.
Result<EnqueueResult> QueueTrigger(JobQueue& queue, Catalog& catalog, QueuedJob job,
                                   const std::function<Result<int64_t>()>& record_run);

}  // namespace mirrord
