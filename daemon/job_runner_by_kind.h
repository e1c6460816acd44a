// JobRunnerByKind: the JobRunner the dispatcher calls, handing each claimed job to the
// runner of its kind (storage/job_queue.h JobKind): syncs to SyncRunExecutor, builds to
// BuildJobRunner. A build job on a node without a build runner fails, retryably (another
// node, or this one once configured, can run it).
// Thread-safety: as the runners it routes to.
#pragma once

#include "daemon/job_runner.h"

namespace mirrord {

class JobRunnerByKind final : public JobRunner {
 public:
  // `sync` must outlive this; `build` may be null (no build stage here) or must too.
  JobRunnerByKind(JobRunner& sync, JobRunner* build) : sync_(sync), build_(build) {}

  JobOutcome Run(const QueuedJob& job, const JobContext& context) override {
    if (job.kind == JobKind::kSync) return sync_.Run(job, context);
    if (build_ != nullptr) return build_->Run(job, context);
    JobOutcome out;
    out.kind = JobOutcome::Kind::kFailed;
    out.failure = RunFailure{FailurePhase::kBuild, "Unavailable", true, std::nullopt};
    out.message = "this node has no build stage";
    return out;
  }

 private:
  JobRunner& sync_;
  JobRunner* const build_;
};

}  // namespace mirrord
