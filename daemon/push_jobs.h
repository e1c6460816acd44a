// PushJobs: queues push jobs (storage/job_queue.h, JobKind::kPush) — after every successful
// build, one per `push` entry of its recipe (the image and its model artifact together), and
// for an operator's request (POST /api/v1/images/NAME:TAG/push, `mirrorctl push`). A push
// job is a catalog run (kind 'push', Catalog::InsertPushRun: image, digests, registry,
// repository, tags) plus a queue job keyed by (image@digest, registry): a second request for
// the same manifest and registry while one is queued folds into it (its tags are added). The
// dispatcher runs it with the PushJobRunner (daemon/push_job_runner.h) and retries it as any
// other job.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

struct QueuedPush {
  int64_t run_id = 0;  // the run standing for this request (an older one when coalesced)
  std::string image;
  std::string digest;
  std::string registry;
  std::string repository;
  std::vector<std::string> tags;
  bool coalesced = false;
};

// The destination of `image` built by `recipe` at `ref`/`commit` on `target`: repository
// and tags (the target's templates expanded, else `image_tags`), and the model artifact's
// tags (each with "-model", cut to 128 bytes) when `with_model`.
PushRunRecord PlanPush(const PushTarget& target, std::string_view image,
                       const std::vector<std::string>& image_tags, std::string_view ref,
                       std::string_view commit, bool with_model);

// The host[:port] of a registry URL ("https://r.lab:5000" -> "r.lab:5000"): the job's host,
// so the queue's per-host limits and pauses apply per registry.
std::string RegistryHost(std::string_view url);

class PushJobs {
 public:
  // Everything must outlive this. `wake` tells the dispatcher that work was queued.
  // Recipes and registries are read from `config`'s current snapshot at each call.
  PushJobs(const LiveConfig& config, Catalog& catalog, JobQueue& queue, const Clock& clock,
           std::function<void()> wake);

  // Queues a push of image `name`:`tag` (an image or a model artifact) to [registries]
  // `registry`: repository from the image's recipe's `push` entry for that registry, else
  // the image's name; tags: `tag`. NotFound: no such image or registry; FailedPrecondition:
  // the image's recipe (which names its repo) is not configured; or the catalog's or
  // queue's error.
  Result<QueuedPush> Request(std::string_view name, std::string_view tag, std::string_view registry,
                             std::string_view trigger, JobPriority priority);

  // After build run `built` of `recipe` succeeded: queues a push of its image (and model
  // artifact) to each of the recipe's `push` targets. Failures are logged, never returned:
  // the build succeeded whatever happens here. Returns the queued (or coalesced) pushes.
  std::vector<QueuedPush> OnBuilt(const BuildRecipe& recipe, const BuildRunRecord& built,
                                  std::string_view trigger);

 private:
  Result<QueuedPush> Queue(int64_t repo_id, std::string_view repo, const PushRunRecord& push,
                           std::string_view registry_url, std::string_view trigger,
                           JobPriority priority);
  int64_t NowMs() const;

  const LiveConfig& config_;
  Catalog& catalog_;
  JobQueue& queue_;
  const Clock& clock_;
  const std::function<void()> wake_;
};

}  // namespace mirrord
