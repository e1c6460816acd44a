#include "daemon/job_dispatcher.h"

#include <boost/asio/post.hpp>
#include <cmath>

#include "common/log.h"
#include "http/backoff.h"
#include "storage/queue_depth.h"

namespace mirrord {

JobDispatcher::JobDispatcher(const LiveConfig& config, JobQueue& queue, Catalog& catalog,
                             std::string node_id, JobRunner& runner, Metrics& metrics,
                             const Clock& clock)
    : config_(config),
      queue_(queue),
      catalog_(catalog),
      node_id_(std::move(node_id)),
      runner_(runner),
      metrics_(metrics),
      clock_(clock),
      workers_(static_cast<size_t>(config.Get()->sync_concurrency)),
      rng_(std::random_device{}()) {}

JobDispatcher::~JobDispatcher() { Shutdown(); }

int64_t JobDispatcher::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Status JobDispatcher::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return FailedPrecondition("the dispatcher is already started");
    started_ = true;
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  lease_keeper_ = std::thread([this] { LeaseLoop(); });
  return Status::Ok();
}

void JobDispatcher::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

bool JobDispatcher::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

void JobDispatcher::BeginShutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [run_id, run] : local_runs_) run.cancel->store(true);
  }
  wake_.notify_all();
}

void JobDispatcher::Shutdown() {
  BeginShutdown();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (lease_keeper_.joinable()) lease_keeper_.join();
  workers_.join();
}

void JobDispatcher::CancelAndWait(std::string_view repo) {
  std::unique_lock lock(mu_);
  auto running_here = [&] {
    for (const auto& [run_id, run] : local_runs_) {
      if (run.repo == repo) return true;
    }
    return false;
  };
  for (auto& [run_id, run] : local_runs_) {
    if (run.repo == repo) run.cancel->store(true);
  }
  run_finished_.wait(lock, [&] { return !running_here(); });
}

Result<JobQueue::Requeued> JobDispatcher::RequeueAbandoned(bool own_too) {
  ASSIGN_OR_RETURN(JobQueue::Requeued requeued,
                   queue_.RequeueAbandoned(own_too ? node_id_ : "", NowMs()));
  for (size_t i = 0; i < requeued.jobs.size(); ++i) {
    const QueuedJob& job = requeued.jobs[i];
    const std::string& lost_by = i < requeued.lost_by.size() ? requeued.lost_by[i] : "";
    // The lost lease's holder is fenced off the catalog from now on (it may still be alive).
    // The repo fence guards a sync's writes only: a build job's token must not raise it past a
    // sync of the same repo running meanwhile (builds publish tags after confirm_lease).
    const int64_t floor = job.kind == JobKind::kSync && job.fence > 0 ? job.fence + 1 : 0;
    if (Status s = catalog_.RequeueRun(job.run_id, floor); !s.ok()) {
      MLOG(Warning) << "requeue run " << job.run_id << ": " << s.ToString();
    }
    const std::string what = job.kind == JobKind::kBuild ? "build " + job.build + " of " + job.ref
                             : job.kind == JobKind::kPush
                                 ? "push of " + job.build + " to " + job.ref
                                 : "sync of " + job.repo;
    if (lost_by == node_id_) {
      MLOG(Warning) << what << " (run " << job.run_id
                    << ") was interrupted by the last stop; queued again";
    } else {
      MLOG(Warning) << what << " (run " << job.run_id << ") on node " << lost_by
                    << " lost its lease; queued again";
    }
  }
  for (int64_t dropped : requeued.dropped) (void)catalog_.DeleteQueuedRun(dropped);
  return requeued;
}

void JobDispatcher::DispatchLoop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    // Claim while this node has room.
    while (static_cast<int>(local_runs_.size()) < config_.Get()->sync_concurrency &&
           !shutting_down_) {
      lock.unlock();
      ClaimRequest req;
      req.owner = node_id_;
      req.now_ms = NowMs();
      req.lease_ms = std::chrono::milliseconds(config_.Get()->lease).count();
      req.max_running_per_host = config_.Get()->per_host_concurrency;
      Result<std::optional<QueuedJob>> claimed = queue_.Claim(req);
      lock.lock();
      if (!claimed.ok()) {
        MLOG(Error) << "job queue: " << claimed.status().ToString();
        break;
      }
      if (!claimed->has_value()) break;
      QueuedJob job = std::move(**claimed);
      auto cancel = std::make_shared<std::atomic<bool>>(shutting_down_);
      local_runs_[job.run_id] = LocalRun{job.repo, cancel, job.lease_until_ms};
      metrics_.SetSyncsRunning(static_cast<int64_t>(local_runs_.size()));
      boost::asio::post(workers_, [this, job = std::move(job), cancel]() mutable {
        RunJob(std::move(job), std::move(cancel));
      });
    }
    lock.unlock();
    PublishQueueGauges();
    lock.lock();
    // Local requests and finished runs wake the loop at once; work queued by other nodes,
    // retry delays and pauses are noticed within a second.
    wake_.wait_for(lock, std::chrono::seconds(1),
                   [this] { return wake_requested_ || shutting_down_; });
    wake_requested_ = false;
  }
}

void JobDispatcher::PublishQueueGauges() {
  const int64_t now_ms = NowMs();
  Result<std::vector<QueuedJob>> jobs = queue_.List();
  Result<std::vector<PausedHost>> paused = queue_.PausedHosts(now_ms);
  if (jobs.ok() && paused.ok()) {
    QueueDepth depth = CountQueueDepth(*jobs, *paused, now_ms, config_.Get()->per_host_concurrency);
    metrics_.SetQueueDepth(depth.ready, depth.delayed);
  }
  if (paused.ok()) metrics_.SetUpstreamsPaused(static_cast<int64_t>(paused->size()));
}

void JobDispatcher::LeaseLoop() {
  const auto every = std::chrono::milliseconds(config_.Get()->lease) / 3;
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    lock.unlock();
    KeepLeases();
    if (Result<JobQueue::Requeued> r = RequeueAbandoned(false); !r.ok()) {
      MLOG(Warning) << "job queue: " << r.status().ToString();
    }
    lock.lock();
    wake_.wait_for(lock, every, [this] { return shutting_down_; });
  }
}

void JobDispatcher::KeepLeases() {
  struct Mine {
    int64_t run_id;
    std::shared_ptr<std::atomic<bool>> cancel;
    int64_t lease_until_ms;
  };
  std::vector<Mine> mine;
  {
    std::lock_guard lock(mu_);
    for (const auto& [run_id, run] : local_runs_) {
      mine.push_back({run_id, run.cancel, run.lease_until_ms});
    }
  }
  const int64_t lease_ms = std::chrono::milliseconds(config_.Get()->lease).count();
  const int64_t every_ms = lease_ms / 3;
  for (const Mine& m : mine) {
    const int64_t until = NowMs() + lease_ms;
    Status s = queue_.Renew(m.run_id, node_id_, until);
    if (s.ok()) {
      std::lock_guard lock(mu_);
      if (auto it = local_runs_.find(m.run_id); it != local_runs_.end()) {
        it->second.lease_until_ms = until;
      }
    } else if (s.code() == StatusCode::kNotFound) {
      MLOG(Error) << "run " << m.run_id << " lost its lease (another node took it over); "
                  << "stopping it here";
      m.cancel->store(true);
    } else if (NowMs() + every_ms >= m.lease_until_ms) {
      // The next renewal would come after the lease ended: another node may take the job
      // over from then on, so this one stops now.
      MLOG(Error) << "run " << m.run_id << ": cannot renew its lease before it ends ("
                  << s.ToString() << "); stopping it here";
      m.cancel->store(true);
    } else {
      MLOG(Warning) << "job queue: renew run " << m.run_id << ": " << s.ToString();
    }
  }
}

Status JobDispatcher::ConfirmLease(int64_t run_id) {
  std::shared_ptr<std::atomic<bool>> cancel;
  {
    std::lock_guard lock(mu_);
    auto it = local_runs_.find(run_id);
    if (it == local_runs_.end()) return Internal("run " + std::to_string(run_id) + " is not here");
    cancel = it->second.cancel;
  }
  const int64_t until = NowMs() + std::chrono::milliseconds(config_.Get()->lease).count();
  Status s = queue_.Renew(run_id, node_id_, until);
  if (!s.ok()) {
    cancel->store(true);
    return Cancelled("run " + std::to_string(run_id) + " no longer provably owns its lease (" +
                     s.ToString() + "); nothing written");
  }
  std::lock_guard lock(mu_);
  if (auto it = local_runs_.find(run_id); it != local_runs_.end())
    it->second.lease_until_ms = until;
  return Status::Ok();
}

void JobDispatcher::RunJob(QueuedJob job, std::shared_ptr<std::atomic<bool>> cancel) {
  const int64_t run_id = job.run_id;
  JobContext context;
  context.cancel = cancel.get();
  context.confirm_lease = [this, run_id] { return ConfirmLease(run_id); };
  JobOutcome outcome = runner_.Run(job, context);
  if (Status s = queue_.Finish(run_id, node_id_); !s.ok()) {
    MLOG(Warning) << "job queue: finish run " << run_id << ": " << s.ToString();
  }
  if (outcome.kind == JobOutcome::Kind::kFailed && outcome.repo_id != 0) {
    AfterFailure(job, outcome);
  }
  {
    std::lock_guard lock(mu_);
    local_runs_.erase(run_id);
    metrics_.SetSyncsRunning(static_cast<int64_t>(local_runs_.size()));
    wake_requested_ = true;
  }
  wake_.notify_all();
  run_finished_.notify_all();
}

void JobDispatcher::AfterFailure(const QueuedJob& job, const JobOutcome& outcome) {
  const RunFailure& failure = *outcome.failure;
  std::optional<std::chrono::seconds> wait;
  if (failure.retry_after_seconds) wait = std::chrono::seconds(*failure.retry_after_seconds);
  const bool rate_limited = wait && failure.code == StatusCodeName(StatusCode::kResourceExhausted);
  if (rate_limited && !job.host.empty()) {
    PausedHost p{job.host, NowMs() + std::chrono::milliseconds(*wait).count(),
                 PrintableExcerpt(outcome.message, 120)};
    if (Status s = queue_.PauseHost(p); !s.ok()) {
      MLOG(Warning) << "job queue: " << s.ToString();
    } else {
      MLOG(Warning) << "upstream " << job.host << " is rate limiting: paused for " << wait->count()
                    << " s";
    }
  }
  if (!failure.retryable || job.attempt >= config_.Get()->retry_attempts) return;
  // A retry is a new run of the same kind (a build's keeps its build, ref and push time).
  BuildRunRecord build;
  build.build = job.build;
  build.ref = job.ref;
  build.commit = job.commit;
  build.pushed_at_ms = job.pushed_at_ms;
  Result<int64_t> run =
      job.kind == JobKind::kBuild
          ? catalog_.InsertBuildRun(outcome.repo_id, job.trigger, NowMs() / 1000, build)
      : job.kind == JobKind::kPush
          ? catalog_.CopyPushRun(job.run_id, job.trigger, NowMs() / 1000)
          : catalog_.InsertRun(outcome.repo_id, job.trigger, NowMs() / 1000);
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
  if (wait) delay = std::max(delay, std::chrono::duration_cast<std::chrono::milliseconds>(*wait));
  retry.not_before_ms = NowMs() + delay.count();
  Result<EnqueueResult> queued = queue_.Enqueue(retry);
  if (!queued.ok() || queued->coalesced) (void)catalog_.DeleteQueuedRun(*run);
  if (!queued.ok()) {
    MLOG(Error) << "job queue: " << queued.status().ToString();
    return;
  }
  if (!queued->coalesced) {
    MLOG(Info) << "retrying "
               << (job.kind == JobKind::kBuild  ? "build " + job.build
                   : job.kind == JobKind::kPush ? "push of " + job.build + " to " + job.ref
                                                : job.repo)
               << " in " << delay.count() / 1000 << " s (attempt " << retry.attempt << " of "
               << config_.Get()->retry_attempts << ", run " << *run << ")";
  }
}

std::chrono::milliseconds JobDispatcher::RetryDelay(int attempt) {
  // base * 2^(attempt-1), capped, then +-20% jitter so that failed repos spread out.
  const BackoffPolicy policy{config_.Get()->retry_backoff, config_.Get()->retry_backoff_max,
                             kProportionalJitter};
  std::lock_guard lock(mu_);
  return BackoffDelay(policy, attempt - 1, rng_);
}

}  // namespace mirrord
