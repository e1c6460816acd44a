// PushJobRunner: the JobRunner (daemon/job_runner.h) of push jobs (JobKind::kPush): every
// push, queued after a build or by an operator (daemon/push_jobs.h), runs here on a
// dispatcher worker.
//
// One run: marks the catalog run started; reads what it pushes from its push run
// (Catalog::GetPushRun) and the [registries] entry from the config snapshot NOW, with its
// secret files read now (daemon/registry_target.h: a rotated secret applies to the next
// attempt); pushes the image, then its model artifact if any, through the ImagePusher
// (deploy/image_pusher.h), which sends the bytes mirrord serves; records what was sent
// (push_runs), the run's final state, its error (the pusher's: which blob, and why) and
// typed failure (phase "push"); and the metrics (mirrord_image_push_*), labelled by
// registry. A failed or cancelled push touches nothing mirrord serves. A registry that left
// the config fails the run for good (InvalidArgument); every other failure is retried by
// the dispatcher as for any job.
// Live progress is kept per running job for GET /api/v1/pushes/ID.
// Thread-safety: Run may be called concurrently for different jobs (the pusher is called
// once per thread at a time per job); View is thread-safe.
#pragma once

#include <map>
#include <mutex>

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "daemon/job_runner.h"
#include "daemon/metrics.h"
#include "deploy/image_pusher.h"
#include "storage/catalog.h"

namespace mirrord {

// A push run as the API shows it (without live progress).
PushRunView PushRunViewOf(const PushRunRecord& record);

class PushJobRunner final : public JobRunner {
 public:
  // Everything must outlive the runner. `pusher` must allow concurrent Push calls from
  // different threads (one per running push job) or the dispatcher must run one at a time.
  PushJobRunner(const LiveConfig& config, Catalog& catalog, ImagePusher& pusher, Metrics& metrics,
                const Clock& clock);

  JobOutcome Run(const QueuedJob& job, const JobContext& context) override;

  // Push run `run_id`: its live view while it runs on this node, else what the catalog
  // holds. NotFound when it is not a push run.
  Result<PushRunView> View(int64_t run_id) const;

 private:
  // Pushes `record`'s image (and model artifact); `report` sums what was sent, also on
  // failure.
  Status Push(const PushRunRecord& record, const JobContext& context, PushReport* report);
  void SetLive(int64_t run_id, const std::function<void(PushRunView&)>& update);

  const LiveConfig& config_;
  Catalog& catalog_;
  ImagePusher& pusher_;
  Metrics& metrics_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::map<int64_t, PushRunView> live_;  // guarded by mu_
};

}  // namespace mirrord
