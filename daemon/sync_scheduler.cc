#include "daemon/sync_scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cmath>

#include "common/admin_token.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/rate_limit.h"
#include "common/repo_name.h"
#include "daemon/repo_sync.h"
#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "storage/queue_depth.h"

namespace mirrord {
namespace {

SyncRunView ViewFromRecord(const SyncRunRecord& r) {
  SyncRunView v;
  v.run_id = r.id;
  v.repo = r.repo_name;
  v.trigger = r.trigger;
  v.state = r.state;
  v.error = r.error;
  v.refs_added = r.refs_added;
  v.refs_updated = r.refs_updated;
  v.refs_deleted = r.refs_deleted;
  v.queued_at = r.queued_at;
  v.started_at = r.started_at;
  v.finished_at = r.finished_at;
  v.progress.phase = (r.state == "succeeded") ? "done" : r.state;
  v.progress.received_bytes = r.received_bytes;
  v.progress.received_objects = r.received_objects;
  v.lfs_objects = r.lfs_objects;
  v.lfs_objects_fetched = r.lfs_objects_fetched;
  v.lfs_bytes = r.lfs_bytes;
  v.lfs_bytes_fetched = r.lfs_bytes_fetched;
  return v;
}

bool SameSource(const RepoRecord& r, const RepoSpec& s) {
  return r.upstream == s.upstream && r.path == s.path && r.url == s.url;
}

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

// The trigger label of the latency histogram: "webhook", "poll" or "manual".
std::string_view LatencyKind(std::string_view trigger) {
  if (trigger == "webhook" || trigger == "poll") return trigger;
  return "manual";
}

// The host[:port] of an upstream URL, lower case, without credentials: the unit of
// per-host limits and rate-limit pauses.
std::string UpstreamHost(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  std::string host(rest);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host;
}

// An upstream URL reduced to what identifies the repository: "github.com/org/name".
std::string UpstreamIdentity(std::string_view url) {
  std::string host = UpstreamHost(url);
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  size_t slash = rest.find('/');
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.ends_with(".git")) path.remove_suffix(4);
  std::string id = host + std::string(path);
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return id;
}

// The label of mirrord_sync_failures_total for a failed sync.
std::string_view FailureReason(const Status& s) {
  if (RateLimitRetryAfter(s)) return "rate_limited";
  if (s.message().find("LFS") != std::string::npos) return "lfs";
  switch (s.code()) {
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "timeout";
    case StatusCode::kDataLoss:
      return "data_loss";
    case StatusCode::kResourceExhausted:
      return "disk";
    default:
      return "other";
  }
}

// Configuration errors do not heal by waiting; everything else (network, upstream, disk,
// even 404: a repository can come back) is retried with backoff.
bool IsRetryable(const Status& s) {
  return s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kFailedPrecondition;
}

}  // namespace

SyncScheduler::SyncScheduler(const Config& config, Catalog& catalog, JobQueue& queue,
                             std::string node_id, Metrics& metrics, LfsSyncer* lfs,
                             const Clock& clock)
    : config_(config),
      catalog_(catalog),
      queue_(queue),
      node_id_(std::move(node_id)),
      metrics_(metrics),
      lfs_(lfs),
      clock_(clock),
      workers_(static_cast<size_t>(config.sync_concurrency)),
      rng_(std::random_device{}()) {}

SyncScheduler::~SyncScheduler() { Shutdown(); }

int64_t SyncScheduler::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

void SyncScheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

Status SyncScheduler::Start() {
  // This node's jobs that were running when it stopped go back to the queue under the same
  // run ids (a `mirrorctl sync` following one sees it continue); so do jobs of nodes whose
  // lease ended.
  ASSIGN_OR_RETURN(JobQueue::Requeued requeued, queue_.RequeueAbandoned(node_id_, NowMs()));
  for (const QueuedJob& job : requeued.jobs) {
    if (Status s = catalog_.RequeueRun(job.run_id); !s.ok()) {
      MLOG(Warning) << "requeue run " << job.run_id << ": " << s.ToString();
    }
    MLOG(Warning) << "sync of " << job.repo << " (run " << job.run_id
                  << ") was interrupted by the last stop; queued again";
  }
  for (int64_t dropped : requeued.dropped) {
    (void)catalog_.DeleteQueuedRun(dropped);
  }
  // Runs the queue does not know (it lost them, or they predate it) can never finish.
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  std::set<int64_t> known;
  // Jobs still running now belong to other live nodes sharing the store: their repos'
  // locks, temp files and "syncing" state are theirs, not leftovers of our crash.
  std::set<std::string> busy_elsewhere;
  for (const QueuedJob& j : jobs) {
    known.insert(j.run_id);
    if (j.running) busy_elsewhere.insert(j.repo);
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
      if (repo.last_success_at > 0) {
        std::lock_guard lock(mu_);
        servable_.insert(repo.name);
      }
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
    if (repo.last_success_at > 0) {
      std::lock_guard lock(mu_);
      servable_.insert(repo.name);
    }
  }
  for (const RepoConfig& rc : config_.repos) {
    RepoSpec spec{rc.name, rc.upstream, rc.upstream.empty() ? "" : rc.path, rc.url};
    auto status = RegisterRepo(spec);
    if (!status.ok()) {
      return status.status().WithContext("[[repos]] " + rc.name);
    }
    if (status->last_success_at == 0 && !status->active_run) {
      auto run = RequestSync(rc.name, SyncTrigger::kStartup);
      if (!run.ok()) MLOG(Error) << "cannot queue " << rc.name << ": " << run.status().ToString();
    }
  }
  RefreshRepoGauges();
  if (auto registered = catalog_.ListRepos(); registered.ok()) {
    for (const RepoRecord& r : *registered) MeasureRepoDisk(r.name);
  }
  MeasureLfsStoreDisk();
  {
    std::lock_guard lock(mu_);
    if (started_) return FailedPrecondition("the scheduler is already started");
    started_ = true;
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  return Status::Ok();
}

void SyncScheduler::BeginShutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [run_id, run] : local_runs_) run.cancel->store(true);
  }
  wake_.notify_all();
}

void SyncScheduler::Shutdown() {
  BeginShutdown();
  if (dispatcher_.joinable()) dispatcher_.join();
  workers_.join();
}

void SyncScheduler::DispatchLoop() {
  using std::chrono::milliseconds;
  const milliseconds lease = config_.lease;
  const milliseconds keep_every = lease / 3;
  auto last_keep = std::chrono::steady_clock::now() - keep_every;
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    if (std::chrono::steady_clock::now() - last_keep >= keep_every) {
      lock.unlock();
      KeepLeases();
      lock.lock();
      last_keep = std::chrono::steady_clock::now();
      if (shutting_down_) break;
    }
    // Claim while this node has room.
    while (running_ < config_.sync_concurrency && !shutting_down_) {
      lock.unlock();
      ClaimRequest req;
      req.owner = node_id_;
      req.now_ms = NowMs();
      req.lease_ms = lease.count();
      req.max_running_per_host = config_.per_host_concurrency;
      Result<std::optional<QueuedJob>> claimed = queue_.Claim(req);
      lock.lock();
      if (!claimed.ok()) {
        MLOG(Error) << "job queue: " << claimed.status().ToString();
        break;
      }
      if (!claimed->has_value()) break;
      QueuedJob job = std::move(**claimed);
      auto cancel = std::make_shared<std::atomic<bool>>(false);
      local_runs_[job.run_id] = LocalRun{job.repo, cancel};
      ++running_;
      metrics_.SetSyncsRunning(running_);
      boost::asio::post(workers_, [this, job = std::move(job), cancel]() mutable {
        ExecuteRun(std::move(job), std::move(cancel));
      });
    }
    lock.unlock();
    const int64_t now_ms = NowMs();
    Result<std::vector<QueuedJob>> jobs = queue_.List();
    Result<std::vector<PausedHost>> paused = queue_.PausedHosts(now_ms);
    if (jobs.ok() && paused.ok()) {
      QueueDepth depth = CountQueueDepth(*jobs, *paused, now_ms, config_.per_host_concurrency);
      metrics_.SetQueueDepth(depth.ready, depth.delayed);
    }
    if (paused.ok()) metrics_.SetUpstreamsPaused(static_cast<int64_t>(paused->size()));
    lock.lock();
    // Local requests and finished runs wake the loop at once; work queued by other nodes,
    // retry delays and pauses are noticed within a second.
    wake_.wait_for(lock, std::chrono::seconds(1),
                   [this] { return wake_requested_ || shutting_down_; });
    wake_requested_ = false;
  }
}

void SyncScheduler::KeepLeases() {
  std::vector<std::pair<int64_t, std::shared_ptr<std::atomic<bool>>>> mine;
  {
    std::lock_guard lock(mu_);
    for (const auto& [run_id, run] : local_runs_) mine.emplace_back(run_id, run.cancel);
  }
  const int64_t until = NowMs() + std::chrono::milliseconds(config_.lease).count();
  for (const auto& [run_id, cancel] : mine) {
    Status s = queue_.Renew(run_id, node_id_, until);
    if (s.code() == StatusCode::kNotFound) {
      MLOG(Error) << "run " << run_id << " lost its lease (another node took it over); "
                  << "stopping it here";
      cancel->store(true);
    } else if (!s.ok()) {
      MLOG(Warning) << "job queue: renew run " << run_id << ": " << s.ToString();
    }
  }
  Result<JobQueue::Requeued> requeued = queue_.RequeueAbandoned("", NowMs());
  if (!requeued.ok()) {
    MLOG(Warning) << "job queue: " << requeued.status().ToString();
    return;
  }
  for (const QueuedJob& job : requeued->jobs) {
    MLOG(Warning) << "sync of " << job.repo << " (run " << job.run_id << ") on node " << job.owner
                  << " lost its lease; queued again";
    (void)catalog_.RequeueRun(job.run_id);
  }
  for (int64_t dropped : requeued->dropped) (void)catalog_.DeleteQueuedRun(dropped);
}

Status SyncScheduler::FetchLfsObject(std::string_view name, const LfsRefRecord& reference) {
  if (lfs_ == nullptr) return FailedPrecondition("LFS is not enabled");
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::string url, UpstreamUrl(repo));
  Status fetched = lfs_->FetchOne(url, UpstreamToken(repo), reference, config_.stall_timeout);
  MeasureLfsStoreDisk();
  return fetched;
}

std::optional<std::filesystem::path> SyncScheduler::ServableRepoDir(std::string_view name) const {
  {
    std::lock_guard lock(mu_);
    if (servable_.contains(std::string(name))) return config_.RepoDir(name);
  }
  // Another node sharing the store may have published it.
  auto repo = catalog_.GetRepo(name);
  if (!repo.ok() || repo->last_success_at == 0) return std::nullopt;
  std::lock_guard lock(mu_);
  servable_.insert(std::string(name));
  return config_.RepoDir(name);
}
Result<RepoStatus> SyncScheduler::RegisterRepo(const RepoSpec& in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(in.name));
  RepoSpec spec = in;
  spec.name = name;
  if (!spec.url.empty() && !spec.upstream.empty()) {
    return InvalidArgument("give either an upstream or a url, not both");
  }
  if (spec.url.empty()) {
    if (spec.upstream.empty()) spec.upstream = "github";
    if (spec.path.empty()) spec.path = name;
    // Resolving validates the upstream name and the path.
    ASSIGN_OR_RETURN(std::string url, ResolveUpstreamUrl(config_, spec.upstream, spec.path));
    (void)url;
  } else {
    if (spec.url.rfind("http://", 0) != 0 && spec.url.rfind("https://", 0) != 0) {
      return InvalidArgument("url must start with http:// or https://");
    }
    if (spec.url.find_first_of(" \t\r\n") != std::string::npos) {
      return InvalidArgument("url must not contain whitespace");
    }
    spec.path.clear();
  }
  auto existing = catalog_.GetRepo(name);
  if (existing.ok()) {
    if (!SameSource(*existing, spec)) {
      return AlreadyExists("repository " + name + " is already mirrored from another source (" +
                           RedactUrlCredentials(UpstreamUrl(*existing).value_or("?")) + ")");
    }
    ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
    return BuildStatus(*existing, StorePhysicalBytes(), jobs);
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  RepoRecord record;
  record.name = name;
  record.upstream = spec.upstream;
  record.path = spec.path;
  record.url = spec.url;
  record.state = "new";
  record.created_at = record.updated_at = Now();
  ASSIGN_OR_RETURN(RepoRecord inserted, catalog_.InsertRepo(record));
  MLOG(Info) << "registered " << name << " from "
             << RedactUrlCredentials(UpstreamUrl(inserted).value_or("?"));
  RefreshRepoGauges();
  return BuildStatus(inserted, StorePhysicalBytes(), {});
}

Result<int64_t> SyncScheduler::RequestSync(std::string_view name_in, const TriggerInfo& trigger) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return Cancelled("mirrord is shutting down");
  }
  ASSIGN_OR_RETURN(std::string url, UpstreamUrl(repo));
  const std::string_view kind = SyncTriggerName(trigger.trigger);
  QueuedJob job;
  job.repo = name;
  job.trigger = std::string(kind);
  job.priority = static_cast<int>(PriorityOf(trigger.trigger));
  job.queued_at_ms = NowMs();
  job.pushed_at_ms = trigger.pushed_at_ms;
  job.host = UpstreamHost(url);
  // A burst of triggers while one is queued costs one queue update each, no run record.
  ASSIGN_OR_RETURN(std::optional<QueuedJob> absorbed, queue_.CoalesceIntoQueued(job));
  if (absorbed) {
    Wake();
    return absorbed->run_id;
  }
  ASSIGN_OR_RETURN(int64_t run_id, catalog_.InsertRun(repo.id, kind, Now()));
  job.run_id = run_id;
  Result<EnqueueResult> queued = queue_.Enqueue(job);
  if (!queued.ok() || queued->coalesced) {
    // The run recorded above never runs: it failed to queue, or another run stands for it.
    if (Status s = catalog_.DeleteQueuedRun(run_id); !s.ok()) {
      MLOG(Warning) << "catalog: " << s.ToString();
    }
  }
  if (!queued.ok()) return queued.status();
  Wake();
  return queued->job.run_id;
}

void SyncScheduler::ExecuteRun(QueuedJob job, std::shared_ptr<std::atomic<bool>> cancel) {
  const std::string name = job.repo;
  const int64_t run_id = job.run_id;
  auto started = clock_.SteadyNow();
  SyncRunRecord record;
  record.id = run_id;
  record.repo_name = name;
  Status outcome = Status::Ok();
  RepoSyncResult result;
  int64_t servable_at_ms = 0;  // when the new refs became servable (set on success)
  auto repo = catalog_.GetRepo(name);
  if (!repo.ok()) {
    outcome = repo.status();
  } else {
    record.repo_id = repo->id;
    {
      std::lock_guard lock(mu_);
      SyncRunView& view = live_runs_[run_id];
      view.run_id = run_id;
      view.repo = name;
      view.trigger = job.trigger;
      view.attempt = job.attempt;
      view.state = "running";
      view.queued_at = job.queued_at_ms / 1000;
      view.started_at = Now();
      view.progress.phase = "connecting";
    }
    if (Status s = catalog_.MarkRunStarted(run_id, Now()); !s.ok()) {
      MLOG(Error) << "catalog: " << s.ToString();
    }
    (void)catalog_.SetRepoState(repo->id, "syncing", Now());
    RefreshRepoGauges();
    auto url = UpstreamUrl(*repo);
    if (!url.ok()) {
      outcome = url.status();
    } else {
      RepoSyncRequest req;
      req.repo_dir = config_.RepoDir(name);
      req.url = *url;
      req.token = UpstreamToken(*repo);
      req.refspecs = RefspecsFor(name);
      req.stall_timeout = config_.stall_timeout;
      req.maintenance = config_.maintenance;
      req.cancel = cancel.get();
      req.on_progress = [this, run_id](const SyncProgress& p) {
        std::lock_guard lock(mu_);
        auto it = live_runs_.find(run_id);
        if (it != live_runs_.end()) it->second.progress = p;
      };
      const LfsPolicy& policy = config_.LfsPolicyFor(name);
      if (lfs_ != nullptr && policy.enabled) {
        req.lfs_phase = [this, &name, &req, &policy, &cancel](
                            const std::vector<PublishedRef>& refs,
                            const std::function<void(const SyncProgress&)>& progress) {
          LfsSyncRequest lreq;
          lreq.repo_name = name;
          lreq.repo_dir = req.repo_dir;
          lreq.refs = refs;
          lreq.clone_url = req.url;
          lreq.token = req.token;
          lreq.policy = policy;
          lreq.stall_timeout = config_.stall_timeout;
          lreq.cancel = cancel.get();
          lreq.on_progress = progress;
          return lfs_->SyncObjects(lreq);
        };
      }
      // The catalog learns the new refs (and LFS references) as soon as git serves them,
      // not after maintenance: from then on the run's result is servable.
      req.on_published = [this, &repo, &name, &servable_at_ms](const RepoSyncResult& r) {
        std::vector<RefRecord> refs;
        refs.reserve(r.refs.size());
        for (const PublishedRef& ref : r.refs) refs.push_back({ref.name, ref.oid, ref.peeled});
        RETURN_IF_ERROR(catalog_.ReplaceRefs(repo->id, refs, r.head, Now(),
                                             r.lfs ? &r.lfs->references : nullptr));
        servable_at_ms = NowMs();
        std::lock_guard lock(mu_);
        servable_.insert(name);
        return Status::Ok();
      };
      MLOG(Info) << "sync " << name << " (run " << run_id << ") from "
                 << RedactUrlCredentials(*url);
      auto synced = SyncRepository(req);
      if (synced.ok()) {
        result = std::move(*synced);
      } else {
        outcome = synced.status();
      }
    }
  }

  double seconds = std::chrono::duration<double>(clock_.SteadyNow() - started).count();
  bool cancelled = cancel->load() || outcome.code() == StatusCode::kCancelled;
  record.state = outcome.ok() ? "succeeded" : (cancelled ? "interrupted" : "failed");
  record.error = outcome.ok() ? "" : RedactUrlCredentials(outcome.ToString());
  record.finished_at = Now();
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
  if (Status s = catalog_.FinishRun(record); !s.ok()) MLOG(Error) << "catalog: " << s.ToString();
  if (repo.ok() && !outcome.ok()) {
    // The previous mirror keeps being served; only the state says the last sync failed.
    (void)catalog_.SetRepoState(repo->id,
                                cancelled && repo->last_success_at > 0 ? "ready"
                                : cancelled                            ? "new"
                                                                       : "failed",
                                Now());
  }
  metrics_.RecordSync(outcome.ok() ? "succeeded" : (cancelled ? "cancelled" : "failed"), seconds);
  metrics_.AddFetchedBytes(result.received_bytes);
  if (result.lfs) metrics_.AddLfsFetchedBytes(result.lfs->bytes_fetched);
  if (outcome.ok()) {
    MLOG(Info) << "sync " << name << " (run " << run_id << ") succeeded in " << seconds
               << " s: " << result.refs_added << " refs added, " << result.refs_updated
               << " updated, " << result.refs_deleted << " deleted, " << result.received_bytes
               << " bytes";
    if (!result.maintenance_error.empty()) {
      MLOG(Warning) << "maintenance of " << name << " failed: " << result.maintenance_error;
    }
  } else {
    MLOG(Error) << "sync " << name << " (run " << run_id << ") " << record.state << " after "
                << seconds << " s: " << record.error;
  }

  if (outcome.ok()) {
    metrics_.RecordTriggerToServable(
        LatencyKind(job.trigger), static_cast<double>(servable_at_ms - job.queued_at_ms) / 1000.0);
    if (job.pushed_at_ms > 0 && servable_at_ms >= job.pushed_at_ms) {
      metrics_.RecordPushToServable(static_cast<double>(servable_at_ms - job.pushed_at_ms) /
                                    1000.0);
    }
  } else if (!cancelled) {
    metrics_.RecordSyncFailure(FailureReason(outcome));
  }
  if (Status s = queue_.Finish(run_id, node_id_); !s.ok()) {
    MLOG(Warning) << "job queue: finish run " << run_id << ": " << s.ToString();
  }
  if (!outcome.ok() && !cancelled && repo.ok()) AfterFailure(job, outcome, repo->id);

  {
    std::lock_guard lock(mu_);
    if (outcome.ok()) servable_.insert(name);
    live_runs_.erase(run_id);
    local_runs_.erase(run_id);
    --running_;
    metrics_.SetSyncsRunning(running_);
    wake_requested_ = true;
  }
  wake_.notify_all();
  run_finished_.notify_all();
  RefreshRepoGauges();
  MeasureRepoDisk(name);
  if (result.lfs) MeasureLfsStoreDisk();
}

void SyncScheduler::AfterFailure(const QueuedJob& job, const Status& outcome, int64_t repo_id) {
  std::optional<std::chrono::seconds> pause = RateLimitRetryAfter(outcome);
  if (pause && !job.host.empty()) {
    PausedHost p{job.host, NowMs() + std::chrono::milliseconds(*pause).count(),
                 PrintableExcerpt(outcome.message(), 120)};
    if (Status s = queue_.PauseHost(p); !s.ok()) {
      MLOG(Warning) << "job queue: " << s.ToString();
    } else {
      MLOG(Warning) << "upstream " << job.host << " is rate limiting: paused for " << pause->count()
                    << " s";
    }
  }
  if (!IsRetryable(outcome) || job.attempt >= config_.retry_attempts) return;
  auto run = catalog_.InsertRun(repo_id, job.trigger, Now());
  if (!run.ok()) {
    MLOG(Error) << "catalog: " << run.status().ToString();
    return;
  }
  QueuedJob retry = job;
  retry.run_id = *run;
  retry.running = false;
  retry.owner.clear();
  retry.lease_until_ms = 0;
  retry.attempt = job.attempt + 1;
  retry.priority = static_cast<int>(JobPriority::kRetry);
  std::chrono::milliseconds delay = RetryDelay(job.attempt);
  if (pause) delay = std::max(delay, std::chrono::duration_cast<std::chrono::milliseconds>(*pause));
  retry.not_before_ms = NowMs() + delay.count();
  Result<EnqueueResult> queued = queue_.Enqueue(retry);
  if (!queued.ok() || queued->coalesced) (void)catalog_.DeleteQueuedRun(*run);
  if (!queued.ok()) {
    MLOG(Error) << "job queue: " << queued.status().ToString();
    return;
  }
  if (!queued->coalesced) {
    MLOG(Info) << "retrying " << job.repo << " in " << delay.count() / 1000 << " s (attempt "
               << retry.attempt << " of " << config_.retry_attempts << ", run " << *run << ")";
  }
}

std::chrono::milliseconds SyncScheduler::RetryDelay(int attempt) {
  // base * 2^(attempt-1), capped, then +-20% jitter so that failed repos spread out.
  const double base = std::chrono::duration<double, std::milli>(config_.retry_backoff).count();
  const double cap = std::chrono::duration<double, std::milli>(config_.retry_backoff_max).count();
  double delay = std::min(cap, base * std::pow(2.0, std::min(attempt - 1, 30)));
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(static_cast<int64_t>(delay * jitter(rng_)));
}

Result<SyncRunView> SyncScheduler::GetRun(int64_t run_id) {
  {
    std::lock_guard lock(mu_);
    auto it = live_runs_.find(run_id);
    if (it != live_runs_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(SyncRunRecord record, catalog_.GetRun(run_id));
  return ViewFromRecord(record);
}

Result<std::vector<RepoStatus>> SyncScheduler::ListRepos() {
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  std::vector<RepoStatus> out;
  out.reserve(repos.size());
  const uint64_t physical = StorePhysicalBytes();  // one walk of the store for the whole list
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  for (const RepoRecord& r : repos) {
    ASSIGN_OR_RETURN(RepoStatus s, BuildStatus(r, physical, jobs));
    out.push_back(std::move(s));
  }
  return out;
}

Result<RepoStatus> SyncScheduler::GetRepoStatus(std::string_view name_in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  return BuildStatus(repo, StorePhysicalBytes(), jobs);
}

Status SyncScheduler::RemoveRepo(std::string_view name_in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(int64_t dropped, queue_.RemoveQueued(name));
  if (dropped != 0) (void)catalog_.DeleteQueuedRun(dropped);
  {
    std::unique_lock lock(mu_);
    servable_.erase(name);
    next_poll_.erase(name);
    auto running_here = [&] {
      for (const auto& [run_id, run] : local_runs_) {
        if (run.repo == name) return true;
      }
      return false;
    };
    for (auto& [run_id, run] : local_runs_) {
      if (run.repo == name) run.cancel->store(true);
    }
    run_finished_.wait(lock, [&] { return !running_here(); });
  }
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
  MeasureRepoDisk(name);  // the directory is gone: republishes the total without it
  {
    std::lock_guard lock(mu_);
    repo_disk_bytes_.erase(name);
  }
  RefreshRepoGauges();
  return Status::Ok();
}

const std::vector<std::string>& SyncScheduler::RefspecsFor(std::string_view name) const {
  for (const RepoConfig& rc : config_.repos) {
    if (rc.name == name && !rc.refspecs.empty()) return rc.refspecs;
  }
  return config_.refspecs;
}

Result<bool> SyncScheduler::UpstreamChanged(std::string_view name) {
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::string url, UpstreamUrl(repo));
  FetchOptions o;
  o.url = url;
  o.token = UpstreamToken(repo);
  o.refspecs = RefspecsFor(repo.name);
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

Result<std::string> SyncScheduler::UpstreamUrl(const RepoRecord& repo) const {
  if (!repo.url.empty()) return repo.url;
  return ResolveUpstreamUrl(config_, repo.upstream, repo.path.empty() ? repo.name : repo.path);
}

std::string SyncScheduler::UpstreamToken(const RepoRecord& repo) const {
  auto it = config_.upstreams.find(repo.upstream);
  if (repo.upstream.empty() || it == config_.upstreams.end() || it->second.token_file.empty()) {
    return "";
  }
  auto token = ReadTokenFile(it->second.token_file);
  if (!token.ok()) {
    MLOG(Warning) << "upstream " << repo.upstream << ": " << token.status().ToString()
                  << "; fetching anonymously";
    return "";
  }
  return *token;
}

uint64_t SyncScheduler::StorePhysicalBytes() const {
  if (lfs_ == nullptr) return 0;
  Result<BlobStore::Usage> usage = lfs_->StoreUsage();
  return usage.ok() ? usage->bytes : 0;
}

Result<RepoStatus> SyncScheduler::BuildStatus(const RepoRecord& repo, uint64_t store_physical_bytes,
                                              const std::vector<QueuedJob>& jobs) {
  RepoStatus s;
  s.name = repo.name;
  s.upstream = repo.upstream;
  s.url = RedactUrlCredentials(UpstreamUrl(repo).value_or(""));
  s.state = repo.state;
  s.head = repo.head;
  s.last_success_at = repo.last_success_at;
  ASSIGN_OR_RETURN(auto last, catalog_.LastFinishedRun(repo.id));
  if (last) s.last_run = ViewFromRecord(*last);
  ASSIGN_OR_RETURN(size_t refs, catalog_.CountRefs(repo.id));
  s.ref_count = refs;
  ASSIGN_OR_RETURN(LfsRepoUsage lfs, catalog_.GetLfsUsage(repo.id));
  s.lfs_objects = lfs.objects;
  s.lfs_logical_bytes = lfs.logical_bytes;
  s.lfs_present_objects = lfs.present_objects;
  s.lfs_present_bytes = lfs.present_bytes;
  s.lfs_failed_objects = lfs.failed_objects;
  s.store_physical_bytes = store_physical_bytes;
  s.upstream_event = repo.upstream_event;
  s.upstream_event_at = repo.upstream_event_at;
  const QueuedJob* running = nullptr;
  const QueuedJob* queued = nullptr;
  for (const QueuedJob& j : jobs) {
    if (j.repo != repo.name) continue;
    (j.running ? running : queued) = &j;
  }
  const QueuedJob* active = running != nullptr ? running : queued;
  if (active != nullptr) {
    std::optional<SyncRunView> live;
    {
      std::lock_guard lock(mu_);
      auto it = live_runs_.find(active->run_id);
      if (it != live_runs_.end()) live = it->second;
    }
    if (!live) {
      auto record = catalog_.GetRun(active->run_id);
      if (record.ok()) live = ViewFromRecord(*record);
    }
    if (live) {
      live->attempt = active->attempt;
      s.active_run = std::move(live);
    }
  }
  if (queued != nullptr && queued->not_before_ms > NowMs()) {
    s.next_attempt_at = queued->not_before_ms / 1000;
    s.next_attempt =
        "retry " + std::to_string(queued->attempt) + "/" + std::to_string(config_.retry_attempts);
  } else if (active == nullptr) {
    std::lock_guard lock(mu_);
    auto poll = next_poll_.find(repo.name);
    if (poll != next_poll_.end()) {
      s.next_attempt_at = poll->second;
      s.next_attempt = "poll";
    }
  }
  return s;
}

Result<std::vector<QueuedJob>> SyncScheduler::ListJobs() { return queue_.List(); }

Result<QueueView> SyncScheduler::GetQueue() {
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  ASSIGN_OR_RETURN(std::vector<PausedHost> paused, queue_.PausedHosts(NowMs()));
  QueueView v;
  for (const QueuedJob& j : jobs) {
    v.jobs.push_back({j.run_id, j.repo, j.trigger, j.running ? "running" : "queued", j.attempt,
                      j.owner, j.host, j.queued_at_ms / 1000, j.not_before_ms / 1000});
  }
  for (const PausedHost& p : paused)
    v.paused_hosts.push_back({p.host, p.until_ms / 1000, p.reason});
  return v;
}

Result<std::vector<PausedHost>> SyncScheduler::ListPausedHosts() {
  return queue_.PausedHosts(NowMs());
}

Status SyncScheduler::RecordUpstreamEvent(std::string_view name, std::string_view event) {
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  return catalog_.SetUpstreamEvent(repo.id, event, Now());
}

Result<std::vector<std::string>> SyncScheduler::FindReposOfUpstream(
    const std::vector<std::string>& urls) {
  std::set<std::string> wanted;
  for (const std::string& u : urls) {
    // ssh forms ("git@github.com:org/name.git") are not comparable; http(s) ones are.
    if (u.starts_with("http://") || u.starts_with("https://") || u.starts_with("git://")) {
      wanted.insert(UpstreamIdentity(u));
    }
  }
  std::vector<std::string> out;
  if (wanted.empty()) return out;
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  for (const RepoRecord& r : repos) {
    Result<std::string> url = UpstreamUrl(r);
    if (url.ok() && wanted.contains(UpstreamIdentity(*url))) out.push_back(r.name);
  }
  return out;
}

bool SyncScheduler::HasPendingWork(std::string_view name) {
  Result<std::vector<QueuedJob>> jobs = queue_.List();
  if (!jobs.ok()) return false;
  for (const QueuedJob& j : *jobs) {
    if (j.repo == name) return true;
  }
  return false;
}

void SyncScheduler::SetNextPoll(std::string_view name, int64_t unix_seconds) {
  std::lock_guard lock(mu_);
  next_poll_[std::string(name)] = unix_seconds;
}

void SyncScheduler::RefreshRepoGauges() {
  Result<std::map<std::string, int64_t>> counts = catalog_.CountReposByState();
  if (counts.ok()) metrics_.SetReposByState(*counts);
}

void SyncScheduler::MeasureRepoDisk(const std::string& name) {
  Result<uint64_t> bytes = DiskUsageBytes(config_.RepoDir(name));
  if (!bytes.ok()) {
    MLOG(Warning) << "store size of " << name << ": " << bytes.status().ToString();
    return;
  }
  uint64_t total = 0;
  {
    std::lock_guard lock(mu_);
    uint64_t& known = repo_disk_bytes_[name];
    repo_disk_bytes_total_ = repo_disk_bytes_total_ - known + *bytes;
    known = *bytes;
    total = repo_disk_bytes_total_;
  }
  metrics_.SetStoreBytes("git", total);
}

void SyncScheduler::MeasureLfsStoreDisk() {
  if (lfs_ == nullptr) return;
  Result<uint64_t> bytes = DiskUsageBytes(config_.LfsStoreDir());
  if (!bytes.ok()) {
    MLOG(Warning) << "LFS store size: " << bytes.status().ToString();
    return;
  }
  metrics_.SetStoreBytes("lfs", *bytes);
}

}  // namespace mirrord
