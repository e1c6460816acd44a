// BuildJobs: queues build jobs (storage/job_queue.h, JobKind::kBuild) — for an operator's
// request (POST /api/v1/builds/NAME, `mirrorctl build`) and for every new commit a sync
// publishes on a ref a recipe builds. A build job is a catalog run (kind 'build', see
// Catalog::InsertBuildRun) plus a queue job, coalesced per (build, ref) like syncs per repo;
// the dispatcher runs it with the BuildJobRunner (daemon/build_job_runner.h).
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

// Whether a sync of `recipe.repo` that published `ref` should build it: `ref` matches one
// of the recipe's `refs` globs (fnmatch over the full ref name); with none, `ref` is the
// repo's default branch `head` or a tag (refs/tags/*).
bool RecipeBuildsRef(const BuildRecipe& recipe, std::string_view ref, std::string_view head);

struct QueuedBuild {
  int64_t run_id = 0;  // the run standing for this request (an older one when coalesced)
  std::string build;
  std::string repo;
  std::string ref;     // full ref name
  std::string commit;  // the ref's published commit now
  bool coalesced = false;
};

class BuildJobs {
 public:
  // Everything must outlive this. `wake` tells the dispatcher that work was queued.
  // Recipes are read from `config`'s current snapshot at each call (reloadable).
  BuildJobs(const LiveConfig& config, Catalog& catalog, JobQueue& queue, const Clock& clock,
            std::function<void()> wake);

  // Queues a build of recipe `name` for `ref` ("": the repo's published default branch).
  // On success the job is queued (or coalesced into the queued one of the same build and
  // ref). NotFound: no such recipe, `ref` is not a published ref of the repo (revision
  // expressions and hidden refs never are); FailedPrecondition: the repo was never synced;
  // InvalidArgument: the recipe has `refs` globs and `ref` matches none; or the catalog's
  // or queue's error.
  Result<QueuedBuild> Request(std::string_view name, std::string_view ref, std::string_view trigger,
                              JobPriority priority, int64_t pushed_at_ms);

  // After a sync of `repo` published `after` (its refs before were `before`, its default
  // branch is `head`): queues a build for each recipe of the repo and each ref whose
  // commit is new or changed and that the recipe builds (RecipeBuildsRef). Failures are
  // logged, never returned: the sync succeeded whatever happens here. Returns the queued
  // (or coalesced) builds.
  std::vector<QueuedBuild> OnPublished(std::string_view repo, const std::vector<RefRecord>& before,
                                       const std::vector<RefRecord>& after, std::string_view head,
                                       std::string_view trigger, JobPriority priority,
                                       int64_t pushed_at_ms);

 private:
  // Queues (build, ref@commit) for `repo_id`.
  Result<QueuedBuild> Queue(const BuildRecipe& recipe, int64_t repo_id, std::string_view ref,
                            std::string_view commit, std::string_view trigger, JobPriority priority,
                            int64_t pushed_at_ms);
  int64_t NowMs() const;

  const LiveConfig& config_;
  Catalog& catalog_;
  JobQueue& queue_;
  const Clock& clock_;
  const std::function<void()> wake_;
};

}  // namespace mirrord
