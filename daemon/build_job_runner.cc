#include "daemon/build_job_runner.h"

#include "common/log.h"
#include "daemon/sync_failure.h"
#include "deploy/base_image.h"
#include "deploy/image_builder.h"
#include "deploy/image_reference.h"
#include "deploy/preflight_layers.h"

namespace mirrord {
namespace {

int64_t UnixMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

// The [registries.NAME] whose URL names the base's registry host, if any.
const RegistryConfig* RegistryFor(const Config& config, const ImageReference& ref) {
  for (const auto& [name, reg] : config.registries) {
    std::string_view host = reg.url;
    if (size_t scheme = host.find("://"); scheme != std::string_view::npos) {
      host.remove_prefix(scheme + 3);
    }
    host = host.substr(0, host.find('/'));
    if (host == ref.registry) return &reg;
  }
  return nullptr;
}

}  // namespace

BuildJobRunner::BuildJobRunner(const LiveConfig& config, Catalog& catalog, const BlobStore& lfs,
                               OciStore& oci, MirrorDirResolver mirror_dir, Metrics& metrics,
                               const Clock& clock)
    : config_(config),
      catalog_(catalog),
      lfs_(lfs),
      oci_(oci),
      mirror_dir_(std::move(mirror_dir)),
      metrics_(metrics),
      clock_(clock) {}

void BuildJobRunner::SetLive(int64_t run_id, const std::function<void(BuildRunView&)>& update) {
  std::lock_guard lock(mu_);
  auto it = live_.find(run_id);
  if (it != live_.end()) update(it->second);
}

Result<BuildRunView> BuildJobRunner::View(int64_t run_id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(run_id); it != live_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(BuildRunRecord b, catalog_.GetBuildRun(run_id));
  ASSIGN_OR_RETURN(SyncRunRecord r, catalog_.GetRun(run_id));
  BuildRunView v;
  v.run_id = run_id;
  v.build = b.build;
  v.repo = r.repo_name;
  v.ref = b.ref;
  v.commit = b.commit;
  v.trigger = r.trigger;
  v.state = r.state;
  v.error = r.error;
  v.failure = r.failure;
  v.phase = r.state == "succeeded" ? "done" : r.state;
  v.hashed_layers = static_cast<uint64_t>(std::max<int64_t>(0, b.hashed_layers));
  v.image_digest = b.image_digest;
  v.image_size = b.image_size;
  v.model_digest = b.model_digest;
  v.model_size = b.model_size;
  v.tags = b.tags;
  v.layers = static_cast<uint64_t>(std::max<int64_t>(0, b.layers));
  v.queued_at = r.queued_at;
  v.started_at = r.started_at;
  v.finished_at = r.finished_at;
  return v;
}

Result<BuildRunRecord> BuildJobRunner::Build(const QueuedJob& job, const JobContext& context,
                                             int64_t run_id) {
  // One snapshot for the whole build (a reload meanwhile applies to the next one).
  const std::shared_ptr<const Config> snapshot = config_.Get();
  const Config& config = *snapshot;
  const BuildRecipe* recipe = nullptr;
  for (const BuildRecipe& r : config.builds) {
    if (r.name == job.build) recipe = &r;
  }
  // Waiting cannot bring back a recipe or repo that left the configuration: final.
  if (recipe == nullptr) {
    return InvalidArgument("no [[builds]] recipe is named \"" + job.build + "\" any more");
  }
  const RepoConfig* repo = nullptr;
  for (const RepoConfig& r : config.repos) {
    if (r.name == recipe->repo) repo = &r;
  }
  if (repo == nullptr) return InvalidArgument("repo " + recipe->repo + " is not mirrored");
  std::optional<std::filesystem::path> dir = mirror_dir_(recipe->repo);
  if (!dir) return FailedPrecondition("repo " + recipe->repo + " has not been synced yet");
  ASSIGN_OR_RETURN(RepoRecord record, catalog_.GetRepo(recipe->repo));
  // The ref's published commit now: a coalesced job builds the newest publication.
  ASSIGN_OR_RETURN(std::vector<RefRecord> refs, catalog_.GetRefs(record.id));
  std::string commit;
  for (const RefRecord& r : refs) {
    if (r.name == job.ref) commit = r.peeled.empty() ? r.oid : r.peeled;
  }
  if (commit.empty()) return NotFound(job.ref + " is not a published ref of " + recipe->repo);
  SetLive(run_id, [&](BuildRunView& v) { v.commit = commit; });

  Result<std::string> url = ResolveUpstreamUrl(config, *repo);
  BuildInputs inputs{recipe->repo,
                     *dir,
                     url.ok() ? RedactUrlCredentials(*url) : "",
                     job.ref,
                     commit,
                     nullptr,
                     {},
                     {},
                     nullptr,
                     {}};
  // The preflight bundle installed beside this binary (build/lib/... in a build tree).
  std::error_code ec;
  inputs.preflight_bundle =
      PreflightBundleBeside(std::filesystem::read_symlink("/proc/self/exe", ec));
  std::optional<PulledBase> base;
  if (recipe->base != "scratch") {
    SetLive(run_id, [](BuildRunView& v) { v.phase = "base"; });
    ASSIGN_OR_RETURN(ImageReference base_ref, ParseImageReference(recipe->base));
    PullOptions pull;
    pull.stall_timeout = config.stall_timeout;
    pull.cancel = context.cancel;
    ASSIGN_OR_RETURN(base, PullBaseImage(base_ref, RegistryFor(config, base_ref), oci_, pull));
    inputs.base = &*base;
  }
  if (context.cancel != nullptr && context.cancel->load()) {
    return Cancelled("build " + recipe->name + " was cancelled");
  }
  inputs.cancel = context.cancel;
  inputs.on_progress = [&](const BuildProgress& p) {
    SetLive(run_id, [&](BuildRunView& v) {
      v.phase = p.phase;
      v.layers_total = p.layers_total;
      v.layers_done = p.layers_done;
      v.bytes_total = p.bytes_total;
      v.bytes_done = p.bytes_done;
      v.hashed_layers = p.hashed_layers;
    });
  };
  inputs.before_publish = [&]() -> Status {
    return context.confirm_lease ? context.confirm_lease() : Status::Ok();
  };
  ASSIGN_OR_RETURN(BuildOutcome out, BuildImage(*recipe, inputs, {lfs_, oci_, catalog_},
                                                ToUnixSeconds(clock_.Now())));
  BuildRunRecord result;
  result.run_id = run_id;
  result.build = recipe->name;
  result.ref = job.ref;
  result.commit = out.commit;
  result.image_digest = out.image.digest;
  result.image_size = out.image.size;
  result.model_digest = out.model.digest;
  result.model_size = out.model.size;
  result.tags = out.image.tags;
  result.layers = static_cast<int64_t>(out.layers);
  result.hashed_layers = static_cast<int64_t>(out.hashed_layers);
  return result;
}

JobOutcome BuildJobRunner::Run(const QueuedJob& job, const JobContext& context) {
  const int64_t run_id = job.run_id;
  auto now = [this] { return ToUnixSeconds(clock_.Now()); };
  const auto started = clock_.SteadyNow();
  {
    BuildRunView v;
    v.run_id = run_id;
    v.build = job.build;
    v.repo = job.repo;
    v.ref = job.ref;
    v.commit = job.commit;
    v.trigger = job.trigger;
    v.state = "running";
    v.attempt = job.attempt;
    v.phase = "starting";
    v.queued_at = job.queued_at_ms / 1000;
    v.started_at = now();
    std::lock_guard lock(mu_);
    live_[run_id] = std::move(v);
  }
  if (Status s = catalog_.MarkRunStarted(run_id, now()); !s.ok()) {
    MLOG(Error) << "catalog: " << s.ToString();
  }
  MLOG(Info) << "build " << job.build << " of " << job.repo << " " << job.ref << " (run " << run_id
             << ", attempt " << job.attempt << ")";
  Result<BuildRunRecord> built = Build(job, context, run_id);
  const int64_t pullable_at_ms = UnixMs(clock_);
  const double seconds = std::chrono::duration<double>(clock_.SteadyNow() - started).count();
  const Status outcome = built.status();
  const bool cancelled = context.cancel->load() || outcome.code() == StatusCode::kCancelled;

  JobOutcome out;
  if (Result<RepoRecord> repo = catalog_.GetRepo(job.repo); repo.ok()) out.repo_id = repo->id;
  out.kind = outcome.ok() ? JobOutcome::Kind::kSucceeded
             : cancelled  ? JobOutcome::Kind::kCancelled
                          : JobOutcome::Kind::kFailed;
  SyncRunRecord record;
  record.id = run_id;
  record.state = outcome.ok() ? "succeeded" : (cancelled ? "interrupted" : "failed");
  record.error = outcome.ok() ? "" : RedactUrlCredentials(outcome.ToString());
  record.finished_at = now();
  if (out.kind == JobOutcome::Kind::kFailed) {
    out.failure = ClassifyFailure(FailurePhase::kBuild, outcome);
    out.message = RedactUrlCredentials(outcome.message());
    record.failure = out.failure;
  }
  // A cancelled run whose lease this node cannot confirm belongs to another node now.
  const bool owned = !cancelled || !context.confirm_lease || context.confirm_lease().ok();
  if (!owned) {
    MLOG(Warning) << "build run " << run_id << " is no longer this node's; its record is left "
                  << "to its new owner";
  } else {
    if (built.ok()) {
      if (Status s = catalog_.RecordBuildResult(*built); !s.ok()) {
        MLOG(Error) << "catalog: " << s.ToString();
      }
    }
    if (Status s = catalog_.FinishRun(record); !s.ok()) MLOG(Error) << "catalog: " << s.ToString();
  }
  metrics_.RecordBuild(outcome.ok() ? "succeeded" : (cancelled ? "cancelled" : "failed"), seconds);
  if (built.ok()) {
    MLOG(Info) << "build " << job.build << " of " << job.ref << " (run " << run_id
               << ") succeeded in " << seconds << " s: " << built->image_digest << " tags "
               << (built->tags.empty() ? std::string() : built->tags.front());
    if (job.pushed_at_ms > 0 && pullable_at_ms >= job.pushed_at_ms) {
      metrics_.RecordPushToImage(static_cast<double>(pullable_at_ms - job.pushed_at_ms) / 1000.0);
    }
    // Delivery to the lab's registries: durable jobs of their own, so that a registry being
    // down never fails (or repeats) the build.
    if (pushes_ != nullptr && owned) {
      const std::shared_ptr<const Config> snapshot = config_.Get();
      for (const BuildRecipe& recipe : snapshot->builds) {
        if (recipe.name == job.build) pushes_->OnBuilt(recipe, *built, job.trigger);
      }
    }
  } else {
    MLOG(Error) << "build " << job.build << " of " << job.ref << " (run " << run_id << ") "
                << record.state << " after " << seconds << " s: " << record.error;
  }
  {
    std::lock_guard lock(mu_);
    live_.erase(run_id);
  }
  return out;
}

}  // namespace mirrord
