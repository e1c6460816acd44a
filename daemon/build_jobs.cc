#include "daemon/build_jobs.h"

#include <fnmatch.h>

#include <map>

#include "common/log.h"
#include "daemon/queue_trigger.h"

namespace mirrord {
namespace {

// The commit a published ref names (an annotated tag's target).
std::string CommitOf(const RefRecord& r) { return r.peeled.empty() ? r.oid : r.peeled; }

const BuildRecipe* FindRecipe(const Config& config, std::string_view name) {
  for (const BuildRecipe& r : config.builds) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

bool MatchesAnyGlob(const std::vector<std::string>& globs, std::string_view ref) {
  const std::string text(ref);
  for (const std::string& glob : globs) {
    if (::fnmatch(glob.c_str(), text.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool RecipeBuildsRef(const BuildRecipe& recipe, std::string_view ref, std::string_view head) {
  if (!recipe.refs.empty()) return MatchesAnyGlob(recipe.refs, ref);
  return (!head.empty() && ref == head) || ref.starts_with("refs/tags/");
}

BuildJobs::BuildJobs(const LiveConfig& config, Catalog& catalog, JobQueue& queue,
                     const Clock& clock, std::function<void()> wake)
    : config_(config), catalog_(catalog), queue_(queue), clock_(clock), wake_(std::move(wake)) {}

int64_t BuildJobs::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Result<QueuedBuild> BuildJobs::Request(std::string_view name, std::string_view ref_in,
                                       std::string_view trigger, JobPriority priority,
                                       int64_t pushed_at_ms) {
  const std::shared_ptr<const Config> config = config_.Get();
  const BuildRecipe* recipe = FindRecipe(*config, name);
  if (recipe == nullptr) {
    return NotFound("no [[builds]] recipe is named \"" + std::string(name) + "\"");
  }
  Result<RepoRecord> repo = catalog_.GetRepo(recipe->repo);
  if (!repo.ok()) {
    if (repo.status().code() == StatusCode::kNotFound) {
      return NotFound("repo " + recipe->repo + " is not mirrored");
    }
    return repo.status();
  }
  if (repo->last_success_at == 0) {
    return FailedPrecondition("repo " + recipe->repo + " has not been synced yet");
  }
  std::string ref(ref_in);
  if (ref.empty()) {
    if (repo->head.empty()) return FailedPrecondition("repo " + recipe->repo + " has no HEAD");
    ref = repo->head;
  }
  // Only a published ref, at its published commit: never a staging ref or a revspec.
  ASSIGN_OR_RETURN(std::vector<RefRecord> refs, catalog_.GetRefs(repo->id));
  std::string commit;
  for (const RefRecord& r : refs) {
    if (r.name == ref) commit = CommitOf(r);
  }
  if (commit.empty()) return NotFound(ref + " is not a published ref of " + recipe->repo);
  if (!recipe->refs.empty() && !MatchesAnyGlob(recipe->refs, ref)) {
    return InvalidArgument(ref + " matches none of the recipe's refs");
  }
  return Queue(*recipe, repo->id, ref, commit, trigger, priority, pushed_at_ms);
}

std::vector<QueuedBuild> BuildJobs::OnPublished(std::string_view repo,
                                                const std::vector<RefRecord>& before,
                                                const std::vector<RefRecord>& after,
                                                std::string_view head, std::string_view trigger,
                                                JobPriority priority, int64_t pushed_at_ms) {
  std::vector<QueuedBuild> out;
  const std::shared_ptr<const Config> config = config_.Get();
  std::vector<const BuildRecipe*> recipes;
  for (const BuildRecipe& r : config->builds) {
    if (r.repo == repo) recipes.push_back(&r);
  }
  if (recipes.empty()) return out;
  std::map<std::string, std::string, std::less<>> old;
  for (const RefRecord& r : before) old[r.name] = CommitOf(r);
  Result<RepoRecord> record = catalog_.GetRepo(repo);
  if (!record.ok()) {
    MLOG(Error) << "build trigger for " << repo << ": " << record.status().ToString();
    return out;
  }
  for (const RefRecord& r : after) {
    const std::string commit = CommitOf(r);
    auto was = old.find(r.name);
    if (was != old.end() && was->second == commit) continue;
    for (const BuildRecipe* recipe : recipes) {
      if (!RecipeBuildsRef(*recipe, r.name, head)) continue;
      Result<QueuedBuild> queued =
          Queue(*recipe, record->id, r.name, commit, trigger, priority, pushed_at_ms);
      if (!queued.ok()) {
        MLOG(Error) << "cannot queue build " << recipe->name << " of " << r.name << ": "
                    << queued.status().ToString();
        continue;
      }
      MLOG(Info) << (queued->coalesced ? "build " + recipe->name + " already queued for "
                                       : "queued build " + recipe->name + " of ")
                 << r.name << " at " << commit << " (run " << queued->run_id << ")";
      out.push_back(std::move(*queued));
    }
  }
  return out;
}

Result<QueuedBuild> BuildJobs::Queue(const BuildRecipe& recipe, int64_t repo_id,
                                     std::string_view ref, std::string_view commit,
                                     std::string_view trigger, JobPriority priority,
                                     int64_t pushed_at_ms) {
  QueuedJob job;
  job.kind = JobKind::kBuild;
  job.repo = recipe.repo;
  job.build = recipe.name;
  job.ref = std::string(ref);
  job.commit = std::string(commit);
  job.trigger = std::string(trigger);
  job.priority = static_cast<int>(priority);
  job.queued_at_ms = NowMs();
  job.pushed_at_ms = pushed_at_ms;
  QueuedBuild out{0, recipe.name, recipe.repo, job.ref, job.commit, false};
  BuildRunRecord record;
  record.build = recipe.name;
  record.ref = job.ref;
  record.commit = job.commit;
  record.pushed_at_ms = pushed_at_ms;
  const int64_t queued_at = job.queued_at_ms / 1000;
  ASSIGN_OR_RETURN(EnqueueResult queued, QueueTrigger(queue_, catalog_, std::move(job), [&] {
                     return catalog_.InsertBuildRun(repo_id, trigger, queued_at, record);
                   }));
  out.run_id = queued.job.run_id;
  out.coalesced = queued.coalesced;
  if (wake_) wake_();
  return out;
}

}  // namespace mirrord
