// JobRunnerByKind: the JobRunner the dispatcher calls, handing each claimed job to the
// runner of its kind (storage/job_queue.h JobKind): syncs to SyncRunExecutor, builds to
// BuildJobRunner, pushes to PushJobRunner. A build or push job on a node without that runner
// fails, retryably (another node, or this one once configured, can run it).
// Thread-safety: as the runners it routes to.
#pragma once

#include "daemon/job_runner.h"

namespace mirrord {

class JobRunnerByKind final : public JobRunner {
 public:
  // `sync` must outlive this; `build` and `push` may be null (no build stage here) or must
  // too.
  JobRunnerByKind(JobRunner& sync, JobRunner* build, JobRunner* push = nullptr)
      : sync_(sync), build_(build), push_(push) {}

  JobOutcome Run(const QueuedJob& job, const JobContext& context) override {
    if (job.kind == JobKind::kSync) return sync_.Run(job, context);
    const bool push = job.kind == JobKind::kPush;
    JobRunner* runner = push ? push_ : build_;
    if (runner != nullptr) return runner->Run(job, context);
    JobOutcome out;
    out.kind = JobOutcome::Kind::kFailed;
    out.failure = RunFailure{push ? FailurePhase::kPush : FailurePhase::kBuild, "Unavailable", true,
                             std::nullopt};
    out.message = push ? "this node cannot push images" : "this node has no build stage";
    return out;
  }

 private:
  JobRunner& sync_;
  JobRunner* const build_;
  JobRunner* const push_;
};

}  // namespace mirrord
