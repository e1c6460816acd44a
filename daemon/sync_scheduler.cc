#include "daemon/sync_scheduler.h"

#include <map>
#include <set>

#include "common/file_util.h"
#include "common/log.h"
#include "common/rate_limit.h"
#include "daemon/queue_trigger.h"
#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"

namespace mirrord {
namespace {

JobPriority PriorityOf(SyncTrigger t) {
  switch (t) {
    case SyncTrigger::kManual:
    case SyncTrigger::kStartup:
      return JobPriority::kManual;
    case SyncTrigger::kWebhook:
      return JobPriority::kWebhook;
    case SyncTrigger::kPoll:
      return JobPriority::kPoll;
  }
  return JobPriority::kPoll;
}

}  // namespace

SyncScheduler::SyncScheduler(const LiveConfig& config, Catalog& catalog, JobQueue& queue,
                             std::string node_id, Metrics& metrics, LfsSyncer* lfs,
                             const Clock& clock, JobRunner* build_runner, JobRunner* push_runner)
    : live_(config),
      startup_(config.Get()),
      config_(*startup_),
      metrics_(metrics),
      catalog_(catalog),
      queue_(queue),
      lfs_(lfs),
      clock_(clock),
      registry_(config, catalog, clock),
      servable_(config_, catalog),
      gauges_(config_, catalog, metrics, lfs),
      status_(config, catalog, queue, registry_, live_runs_, gauges_, clock),
      builds_(config, catalog, queue, clock, [this] { dispatcher_.Wake(); }),
      pushes_(config, catalog, queue, clock, [this] { dispatcher_.Wake(); }),
      executor_(config, catalog, registry_, live_runs_, servable_, gauges_, metrics, lfs, clock,
                &builds_),
      runners_(executor_, build_runner, push_runner),
      dispatcher_(config, queue, catalog, std::move(node_id), runners_, metrics, clock),
      reconciler_(catalog, registry_,
                  ReconcileHooks{
                      .queue_sync =
                          [this](const std::string& name) {
                            auto run = RequestSync(name, SyncTrigger::kStartup);
                            if (!run.ok()) {
                              MLOG(Error)
                                  << "cannot queue " << name << ": " << run.status().ToString();
                            }
                          },
                      .stop =
                          [this](const std::string& name) {
                            Result<int64_t> dropped = queue_.RemoveQueued(name);
                            if (dropped.ok() && *dropped != 0) {
                              (void)catalog_.DeleteQueuedRun(*dropped);
                            }
                          },
                      .purge = [this](const std::string& name) { return RemoveRepo(name); },
                  },
                  clock) {}

SyncScheduler::~SyncScheduler() { Shutdown(); }

int64_t SyncScheduler::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Status SyncScheduler::Recover() {
  // This node's jobs that were running when it stopped go back to the queue under the same
  // run ids (a `mirrorctl sync` following one sees it continue); so do jobs of nodes whose
  // lease ended.
  RETURN_IF_ERROR(dispatcher_.RequeueAbandoned(/*own_too=*/true).status());
  // Runs the queue does not know (it lost them, or they predate it) can never finish.
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  std::set<int64_t> known;
  // Jobs still running now belong to other live nodes sharing the store: their repos'
  // locks, temp files and "syncing" state are theirs, not leftovers of our crash.
  std::set<std::string> busy_elsewhere;
  for (const QueuedJob& j : jobs) {
    known.insert(j.run_id);
    if (j.running && j.kind == JobKind::kSync) busy_elsewhere.insert(j.repo);
  }
  ASSIGN_OR_RETURN(std::vector<SyncRunRecord> unfinished, catalog_.UnfinishedRuns());
  for (SyncRunRecord& run : unfinished) {
    if (known.contains(run.id)) continue;
    run.state = "interrupted";
    run.error = "mirrord stopped during the sync";
    run.finished_at = Now();
    if (Status s = catalog_.FinishRun(run); !s.ok()) MLOG(Error) << "catalog: " << s.ToString();
  }
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  std::vector<const RepoRecord*> to_recover;
  std::vector<std::filesystem::path> dirs;
  for (const RepoRecord& repo : repos) {
    if (busy_elsewhere.contains(repo.name)) {
      if (repo.last_success_at > 0) servable_.MarkServable(repo.name);
      continue;
    }
    if (repo.state == "syncing") {
      (void)catalog_.SetRepoState(repo.id, repo.last_success_at > 0 ? "ready" : "new", Now());
    }
    to_recover.push_back(&repo);
    dirs.push_back(config_.RepoDir(repo.name));
  }
  // Also for a missing dir: an interrupted first creation leaves a temp sibling.
  auto recovered = MirrorRepository::RecoverAllAfterCrash(dirs);
  for (size_t i = 0; i < to_recover.size(); ++i) {
    const RepoRecord& repo = *to_recover[i];
    if (!recovered[i].ok()) {
      MLOG(Error) << "recovery of " << repo.name << " failed: " << recovered[i].status().ToString();
      continue;
    }
    for (const auto& path : *recovered[i]) {
      MLOG(Warning) << "recovery of " << repo.name << ": removed stale " << path;
    }
    if (repo.last_success_at > 0) servable_.MarkServable(repo.name);
  }
  return Status::Ok();
}

Status SyncScheduler::Start() {
  RETURN_IF_ERROR(Recover());
  {
    const std::shared_ptr<const Config> config = live_.Get();
    ASSIGN_OR_RETURN(ReconcileReport report, Reconcile(*config));
    MLOG(Info) << "config: " << report.Summary(config->repos.size());
  }
  gauges_.RefreshRepoStates();
  if (auto registered = catalog_.ListRepos(); registered.ok()) {
    for (const RepoRecord& r : *registered) {
      gauges_.MeasureRepo(r.name);
      if (r.retired_at == 0) metrics_.repos().SetLastSuccess(r.name, r.last_success_at);
    }
  }
  gauges_.MeasureLfsStore();
  servable_.StartRefresher();
  return dispatcher_.Start();
}

Result<ReconcileReport> SyncScheduler::Reconcile(const Config& config) {
  std::lock_guard lock(reconcile_mu_);
  ASSIGN_OR_RETURN(ReconcileReport report, reconciler_.Reconcile(config));
  reconciler_.PurgeExpired(config.retired_retention);
  // Retired repos leave the per-repo series (they would only grow stale); added ones enter.
  for (const std::string& name : report.retired) metrics_.repos().Forget(name);
  for (const std::string& name : report.added) metrics_.repos().SetLastSuccess(name, 0);
  for (const std::string& name : report.unretired) {
    if (auto repo = catalog_.GetRepo(name); repo.ok()) {
      metrics_.repos().SetLastSuccess(name, repo->last_success_at);
    }
  }
  if (!report.added.empty() || !report.retired.empty()) gauges_.RefreshRepoStates();
  return report;
}

void SyncScheduler::BeginShutdown() { dispatcher_.BeginShutdown(); }

void SyncScheduler::Shutdown() {
  dispatcher_.Shutdown();
  servable_.StopRefresher();
}

Status SyncScheduler::FetchLfsObject(std::string_view name, const LfsRefRecord& reference) {
  if (lfs_ == nullptr) return FailedPrecondition("LFS is not enabled");
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::string url, registry_.UpstreamUrl(repo));
  Status fetched =
      lfs_->FetchOne(url, registry_.UpstreamToken(repo), reference, config_.stall_timeout);
  gauges_.MeasureLfsStore();
  return fetched;
}

Result<RepoStatus> SyncScheduler::RegisterRepo(const RepoSpec& spec) {
  ASSIGN_OR_RETURN(RepoRegistry::Registered registered, registry_.Register(spec));
  if (registered.created) gauges_.RefreshRepoStates();
  // New, or taken back from retirement: it has per-repo series again.
  metrics_.repos().SetLastSuccess(registered.repo.name, registered.repo.last_success_at);
  return status_.StatusOf(registered.repo);
}

Result<int64_t> SyncScheduler::RequestSync(std::string_view name, const TriggerInfo& trigger) {
  ASSIGN_OR_RETURN(RepoRecord repo, registry_.Get(name));
  if (dispatcher_.shutting_down()) return Cancelled("mirrord is shutting down");
  if (repo.retired_at != 0) {
    return FailedPrecondition(repo.name +
                              " was removed from the config's [[repos]], so it is no longer "
                              "synced: add it back and reload, or remove it");
  }
  ASSIGN_OR_RETURN(std::string url, registry_.UpstreamUrl(repo));
  const std::string_view kind = SyncTriggerName(trigger.trigger);
  QueuedJob job;
  job.repo = repo.name;
  job.trigger = std::string(kind);
  job.priority = static_cast<int>(PriorityOf(trigger.trigger));
  job.queued_at_ms = NowMs();
  job.pushed_at_ms = trigger.pushed_at_ms;
  job.host = UpstreamHost(url);
  ASSIGN_OR_RETURN(EnqueueResult queued, QueueTrigger(queue_, catalog_, std::move(job), [&] {
                     return catalog_.InsertRun(repo.id, kind, Now());
                   }));
  dispatcher_.Wake();
  return queued.job.run_id;
}

Result<SyncRunView> SyncScheduler::GetRun(int64_t run_id) { return status_.GetRun(run_id); }

Result<std::vector<RepoStatus>> SyncScheduler::ListRepos() { return status_.ListRepos(); }

Result<QueueView> SyncScheduler::GetQueue() { return status_.GetQueue(); }

Result<RepoStatus> SyncScheduler::GetRepoStatus(std::string_view name) {
  return status_.GetRepoStatus(name);
}

Status SyncScheduler::RemoveRepo(std::string_view name_in) {
  ASSIGN_OR_RETURN(RepoRecord repo, registry_.Get(name_in));
  const std::string& name = repo.name;
  if (repo.origin == "config" && repo.retired_at == 0) {
    // It would come back at the next start or reload: the config is the source of truth.
    return FailedPrecondition(name +
                              " is in the config's [[repos]]: delete its entry there and "
                              "reload (systemctl reload mirrord); its mirror is then kept "
                              "until removed or [sync] retired_retention");
  }
  ASSIGN_OR_RETURN(int64_t dropped, queue_.RemoveQueued(name));
  if (dropped != 0) (void)catalog_.DeleteQueuedRun(dropped);
  servable_.Forget(name);
  status_.ForgetRepo(name);
  dispatcher_.CancelAndWait(name);
  RETURN_IF_ERROR(catalog_.DeleteRepo(name));
  // LFS objects stay in the store: other repos may share them (garbage collection is apart).
  if (lfs_ != nullptr) lfs_->ForgetRepo(name);
  // Move the mirror out of the served tree in one rename, then delete it at leisure.
  std::filesystem::path dir = config_.RepoDir(name);
  std::filesystem::path trash = config_.storage_root / "trash";
  RETURN_IF_ERROR(CreateDirectories(trash));
  std::filesystem::path target = trash / (std::to_string(repo.id) + "-" + std::to_string(Now()));
  std::error_code ec;
  if (std::filesystem::exists(dir)) {
    std::filesystem::rename(dir, target, ec);
    if (ec) return ErrnoStatus(ec.value(), "move " + dir.string() + " to trash");
    std::filesystem::remove_all(target, ec);
    if (ec) MLOG(Warning) << "could not delete " << target << ": " << ec.message();
  }
  MLOG(Info) << "removed " << name;
  gauges_.MeasureRepo(name);  // the directory is gone: republishes the total without it
  gauges_.ForgetRepo(name);
  metrics_.repos().Forget(name);
  gauges_.RefreshRepoStates();
  return Status::Ok();
}

Result<std::vector<std::string>> SyncScheduler::RepoNames() {
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  std::vector<std::string> names;
  names.reserve(repos.size());
  for (RepoRecord& r : repos) {
    if (r.retired_at == 0) names.push_back(std::move(r.name));  // retired: not polled
  }
  return names;
}

bool SyncScheduler::HasPendingWork(std::string_view name) {
  Result<std::vector<QueuedJob>> jobs = queue_.List();
  if (!jobs.ok()) return false;
  for (const QueuedJob& j : *jobs) {
    if (j.kind == JobKind::kSync && j.repo == name) return true;
  }
  return false;
}

Result<bool> SyncScheduler::ClaimPoll(std::string_view name, int64_t now_ms, int64_t hold_ms) {
  return queue_.RecordDelivery("poll:" + std::string(name), now_ms, hold_ms);
}

Result<bool> SyncScheduler::UpstreamChanged(std::string_view name) {
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::string url, registry_.UpstreamUrl(repo));
  FetchOptions o;
  o.url = url;
  o.token = registry_.UpstreamToken(repo);
  o.refspecs = registry_.RefspecsFor(repo.name);
  o.stall_timeout = config_.stall_timeout;
  Result<std::vector<PublishedRef>> advertised = ListUpstreamRefs(o);
  if (!advertised.ok()) {
    if (auto pause = RateLimitRetryAfter(advertised.status())) {
      PausedHost p{UpstreamHost(url), NowMs() + std::chrono::milliseconds(*pause).count(),
                   PrintableExcerpt(advertised.status().message(), 120)};
      (void)queue_.PauseHost(p);
    }
    return advertised.status();
  }
  ASSIGN_OR_RETURN(std::vector<RefRecord> published, catalog_.GetRefs(repo.id));
  if (published.size() != advertised->size()) return true;
  std::map<std::string, std::string> have;
  for (const RefRecord& r : published) have[r.name] = r.oid;
  for (const PublishedRef& r : *advertised) {
    auto it = have.find(r.name);
    if (it == have.end() || it->second != r.oid) return true;
  }
  return false;
}

void SyncScheduler::SetNextPoll(std::string_view name, int64_t unix_seconds) {
  status_.SetNextPoll(name, unix_seconds);
}

Result<bool> SyncScheduler::RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                                           int64_t keep_ms) {
  return queue_.RecordDelivery(delivery_id, now_ms, keep_ms);
}

Result<std::vector<std::string>> SyncScheduler::FindReposOfUpstream(
    const std::vector<std::string>& urls) {
  return registry_.FindReposOfUpstream(urls);
}

Status SyncScheduler::RecordUpstreamEvent(std::string_view name, std::string_view event) {
  return registry_.RecordUpstreamEvent(name, event);
}

}  // namespace mirrord
