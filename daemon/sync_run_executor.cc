#include "daemon/sync_run_executor.h"

#include "common/log.h"
#include "daemon/repo_sync.h"
#include "daemon/sync_failure.h"

namespace mirrord {
namespace {

// The trigger label of the latency histogram: "webhook", "poll" or "manual".
std::string_view LatencyKind(std::string_view trigger) {
  if (trigger == "webhook" || trigger == "poll") return trigger;
  return "manual";
}

int64_t UnixMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

}  // namespace

// The executor's side of one sync (SyncSteps), bound to that run.
class SyncRunExecutor::Steps final : public SyncSteps {
 public:
  Steps(SyncRunExecutor& executor, const QueuedJob& job, const RepoRecord& repo,
        const RepoSyncRequest& request, const JobContext& context)
      : x_(executor), job_(job), repo_(repo), request_(request), context_(context) {}

  void OnProgress(const SyncProgress& progress) override {
    x_.live_runs_.SetProgress(job_.run_id, progress);
  }

  bool HasLfsPhase() const override {
    return x_.lfs_ != nullptr && x_.config_.Get()->LfsPolicyFor(repo_.name).enabled;
  }

  Result<LfsSyncOutcome> SyncLfs(
      const std::vector<PublishedRef>& refs,
      const std::function<void(const SyncProgress&)>& progress) override {
    LfsSyncRequest lreq;
    lreq.repo_name = repo_.name;
    lreq.repo_dir = request_.repo_dir;
    lreq.refs = refs;
    lreq.clone_url = request_.url;
    lreq.token = request_.token;
    lreq.policy = x_.config_.Get()->LfsPolicyFor(repo_.name);
    lreq.stall_timeout = x_.config_.Get()->stall_timeout;
    lreq.cancel = context_.cancel;
    lreq.on_progress = progress;
    return x_.lfs_->SyncObjects(lreq);
  }

  // The lease as the queue sees it now, then the catalog's fence: a node whose lease was
  // taken over fails one or the other (the fence even if the queue's answer was late).
  Status ConfirmOwnership() override {
    if (context_.confirm_lease) RETURN_IF_ERROR(context_.confirm_lease());
    return x_.catalog_.CheckFence(repo_.id, job_.fence);
  }

  // The catalog learns the new refs (and LFS references) as soon as git serves them, not
  // after maintenance: from then on the run's result is servable.
  Status OnPublished(const RepoSyncResult& r) override {
    RETURN_IF_ERROR(ConfirmOwnership());
    std::vector<RefRecord> refs;
    refs.reserve(r.refs.size());
    for (const PublishedRef& ref : r.refs) refs.push_back({ref.name, ref.oid, ref.peeled});
    std::vector<RefRecord> before;
    if (x_.builds_ != nullptr) {
      Result<std::vector<RefRecord>> old = x_.catalog_.GetRefs(repo_.id);
      if (old.ok()) before = std::move(*old);
    }
    RETURN_IF_ERROR(x_.catalog_.ReplaceRefs(repo_.id, refs, r.head, ToUnixSeconds(x_.clock_.Now()),
                                            r.lfs ? &r.lfs->references : nullptr, job_.fence));
    servable_at_ms_ = UnixMs(x_.clock_);
    x_.servable_.MarkServable(repo_.name);
    // The new commits are servable (refs and their LFS objects): their builds may start.
    if (x_.builds_ != nullptr) {
      (void)x_.builds_->OnPublished(repo_.name, before, refs, r.head, job_.trigger,
                                    static_cast<JobPriority>(job_.priority), job_.pushed_at_ms);
    }
    return Status::Ok();
  }

  int64_t servable_at_ms() const { return servable_at_ms_; }

 private:
  SyncRunExecutor& x_;
  const QueuedJob& job_;
  const RepoRecord& repo_;
  const RepoSyncRequest& request_;
  const JobContext& context_;
  int64_t servable_at_ms_ = 0;
};

SyncRunExecutor::SyncRunExecutor(const LiveConfig& config, Catalog& catalog, RepoRegistry& registry,
                                 LiveRuns& live_runs, ServableRepos& servable, StoreGauges& gauges,
                                 Metrics& metrics, LfsSyncer* lfs, const Clock& clock,
                                 BuildJobs* builds)
    : config_(config),
      catalog_(catalog),
      registry_(registry),
      live_runs_(live_runs),
      servable_(servable),
      gauges_(gauges),
      metrics_(metrics),
      lfs_(lfs),
      clock_(clock),
      builds_(builds) {}

JobOutcome SyncRunExecutor::Run(const QueuedJob& job, const JobContext& context) {
  const std::string& name = job.repo;
  const int64_t run_id = job.run_id;
  auto now = [this] { return ToUnixSeconds(clock_.Now()); };
  const auto started = clock_.SteadyNow();
  SyncRunRecord record;
  record.id = run_id;
  record.repo_name = name;
  RepoSyncOutcome synced;
  int64_t servable_at_ms = 0;
  Result<RepoRecord> repo = catalog_.GetRepo(name);
  if (!repo.ok()) {
    synced.status = repo.status();
  } else {
    record.repo_id = repo->id;
    SyncRunView view;
    view.run_id = run_id;
    view.repo = name;
    view.trigger = job.trigger;
    view.attempt = job.attempt;
    view.state = "running";
    view.queued_at = job.queued_at_ms / 1000;
    view.started_at = now();
    view.progress.phase = "connecting";
    live_runs_.Begin(view);
    // The run's first fenced write: from here on, a node holding an older lease of this
    // repo can change neither its catalog state nor its refs.
    Status marked = catalog_.MarkRunStarted(run_id, now(), job.fence);
    if (!marked.ok() && marked.code() != StatusCode::kCancelled) {
      MLOG(Error) << "catalog: " << marked.ToString();
    }
    if (marked.code() != StatusCode::kCancelled) {
      (void)catalog_.SetRepoState(repo->id, "syncing", now(), job.fence);
    }
    gauges_.RefreshRepoStates();
    Result<std::string> url = registry_.UpstreamUrl(*repo);
    if (marked.code() == StatusCode::kCancelled) {
      synced.status = marked;  // a newer lease exists: this one does nothing
    } else if (!url.ok()) {
      synced.status = url.status();
    } else {
      RepoSyncRequest req;
      req.repo_dir = config_.Get()->RepoDir(name);
      req.url = *url;
      req.token = registry_.UpstreamToken(*repo);
      req.refspecs = registry_.RefspecsFor(name);
      req.stall_timeout = config_.Get()->stall_timeout;
      req.maintenance = config_.Get()->maintenance;
      req.cancel = context.cancel;
      MLOG(Info) << "sync " << name << " (run " << run_id << ") from "
                 << RedactUrlCredentials(*url);
      Steps steps(*this, job, *repo, req, context);
      synced = SyncRepository(req, steps);
      servable_at_ms = steps.servable_at_ms();
    }
  }
  const Status& outcome = synced.status;
  const RepoSyncResult& result = synced.result;

  const double seconds = std::chrono::duration<double>(clock_.SteadyNow() - started).count();
  const bool cancelled = context.cancel->load() || outcome.code() == StatusCode::kCancelled;
  JobOutcome out;
  out.repo_id = repo.ok() ? repo->id : 0;
  out.kind = outcome.ok() ? JobOutcome::Kind::kSucceeded
             : cancelled  ? JobOutcome::Kind::kCancelled
                          : JobOutcome::Kind::kFailed;
  if (out.kind == JobOutcome::Kind::kFailed) {
    out.failure = ClassifyFailure(synced.failed_phase, outcome);
    out.message = RedactUrlCredentials(outcome.message());
  }
  record.state = outcome.ok() ? "succeeded" : (cancelled ? "interrupted" : "failed");
  // The code is in `failure`; the text is what people read (no internal status names).
  record.error = outcome.ok() ? "" : RedactUrlCredentials(outcome.message());
  record.failure = out.failure;
  record.finished_at = now();
  record.received_bytes = result.received_bytes;
  record.received_objects = result.received_objects;
  record.refs_added = result.refs_added;
  record.refs_updated = result.refs_updated;
  record.refs_deleted = result.refs_deleted;
  if (result.lfs) {
    record.lfs_objects = result.lfs->objects;
    record.lfs_objects_fetched = result.lfs->objects_fetched;
    record.lfs_bytes = result.lfs->bytes;
    record.lfs_bytes_fetched = result.lfs->bytes_fetched;
  }
  // A cancelled run whose lease this node cannot confirm belongs to another node now (it
  // took the job over under the same run id): its record and the repo's state are that
  // node's to write.
  const bool owned = !cancelled || !context.confirm_lease || context.confirm_lease().ok();
  if (!owned) {
    MLOG(Warning) << "run " << run_id << " of " << name
                  << " is no longer this node's; its record is left to its new owner";
  } else if (Status s = catalog_.FinishRun(record, job.fence); !s.ok()) {
    if (s.code() == StatusCode::kCancelled) {
      MLOG(Warning) << "run " << run_id << " of " << name
                    << " is no longer this node's; its record is left to its new owner ("
                    << s.message() << ")";
    } else {
      MLOG(Error) << "catalog: " << s.ToString();
    }
  }
  if (owned && repo.ok() && !outcome.ok()) {
    // The previous mirror keeps being served; only the state says the last sync failed.
    // Refused (fenced) when the lease was taken over meanwhile.
    (void)catalog_.SetRepoState(repo->id,
                                cancelled && repo->last_success_at > 0 ? "ready"
                                : cancelled                            ? "new"
                                                                       : "failed",
                                now(), job.fence);
  }
  metrics_.RecordSync(outcome.ok() ? "succeeded" : (cancelled ? "cancelled" : "failed"), seconds);
  metrics_.AddFetchedBytes(result.received_bytes);
  if (result.lfs) metrics_.AddLfsFetchedBytes(result.lfs->bytes_fetched);
  if (owned && !cancelled) {
    metrics_.repos().RecordSync(
        name, outcome.ok(), seconds,
        result.received_bytes + (result.lfs ? result.lfs->bytes_fetched : 0), now());
  }
  if (outcome.ok()) {
    MLOG(Info) << "sync " << name << " (run " << run_id << ") succeeded in " << seconds
               << " s: " << result.refs_added << " refs added, " << result.refs_updated
               << " updated, " << result.refs_deleted << " deleted, " << result.received_bytes
               << " bytes";
    if (!result.maintenance_error.empty()) {
      MLOG(Warning) << "maintenance of " << name << " failed: " << result.maintenance_error;
    }
    metrics_.RecordTriggerToServable(
        LatencyKind(job.trigger), static_cast<double>(servable_at_ms - job.queued_at_ms) / 1000.0);
    if (job.pushed_at_ms > 0 && servable_at_ms >= job.pushed_at_ms) {
      metrics_.RecordPushToServable(static_cast<double>(servable_at_ms - job.pushed_at_ms) /
                                    1000.0);
    }
  } else {
    MLOG(Error) << "sync " << name << " (run " << run_id << ") " << record.state << " after "
                << seconds << " s"
                << (out.failure ? " in phase " + std::string(FailurePhaseName(out.failure->phase))
                                : std::string())
                << ": " << record.error;
    if (out.failure) metrics_.RecordSyncFailure(FailureMetricLabel(*out.failure));
  }
  live_runs_.End(run_id);
  gauges_.RefreshRepoStates();
  gauges_.MeasureRepo(name);
  if (result.lfs) gauges_.MeasureLfsStore();
  return out;
}

}  // namespace mirrord
