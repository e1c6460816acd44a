// BuildJobRunner: the JobRunner (daemon/job_runner.h) of build jobs (JobKind::kBuild), and
// the one code path that builds: every build, queued by a sync or by an operator
// (daemon/build_jobs.h), runs here on a dispatcher worker.
//
// One run: marks the catalog run started; resolves the recipe, the repo's served mirror and
// the ref's published commit NOW (a coalesced job builds the newest publication); pulls the
// base (deploy/base_image.h); builds with deploy/image_builder.h, which refuses to start
// while any LFS object the revision needs is not verified in the store (FailedPrecondition:
// the build FAILS RETRYABLY and the dispatcher queues it again with its backoff; it never
// waits on a worker). Tags are published last, in one catalog transaction, right after the
// lease fence (JobContext::confirm_lease): a failed, cancelled or killed build publishes
// nothing and never touches git or LFS serving. Then it records the result (build_runs),
// the run's final state and typed failure (phase "build", daemon/sync_failure.h), and the
// metrics (builds by outcome, duration, upstream push -> image pullable). A succeeded build
// of a recipe with `push` targets queues its push jobs (daemon/push_jobs.h) last.
// Live progress is kept per running job for GET /api/v1/builds/NAME/runs/ID.
// Thread-safety: Run may be called concurrently for different jobs; View is thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "daemon/job_runner.h"
#include "daemon/metrics.h"
#include "daemon/push_jobs.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// The served bare mirror of a repo, or nullopt when it has none yet.
using MirrorDirResolver = std::function<std::optional<std::filesystem::path>(std::string_view)>;

class BuildJobRunner final : public JobRunner {
 public:
  // Everything must outlive the runner.
  // The recipe, repos and registries are read from `config`'s snapshot when a job starts.
  BuildJobRunner(const LiveConfig& config, Catalog& catalog, const BlobStore& lfs, OciStore& oci,
                 MirrorDirResolver mirror_dir, Metrics& metrics, const Clock& clock);

  // From now on each succeeded build queues its pushes with `pushes` (must outlive the
  // runner; null: none). Call before any job runs (not synchronised with Run).
  void QueuePushesWith(PushJobs* pushes) { pushes_ = pushes; }

  JobOutcome Run(const QueuedJob& job, const JobContext& context) override;

  // Build run `run_id`: its live view while it runs on this node, else what the catalog
  // holds. NotFound when it is not a build run.
  Result<BuildRunView> View(int64_t run_id) const;

 private:
  // Builds `job` (recipe, ref) to the end; `live` is updated as it goes.
  Result<BuildRunRecord> Build(const QueuedJob& job, const JobContext& context, int64_t run_id);
  void SetLive(int64_t run_id, const std::function<void(BuildRunView&)>& update);

  const LiveConfig& config_;
  Catalog& catalog_;
  const BlobStore& lfs_;
  OciStore& oci_;
  MirrorDirResolver mirror_dir_;
  Metrics& metrics_;
  const Clock& clock_;
  PushJobs* pushes_ = nullptr;

  mutable std::mutex mu_;
  std::map<int64_t, BuildRunView> live_;  // guarded by mu_
};

}  // namespace mirrord
