#include "daemon/status_view.h"

#include "common/log.h"

namespace mirrord {

SyncRunView ViewFromRecord(const SyncRunRecord& r) {
  SyncRunView v;
  v.run_id = r.id;
  v.repo = r.repo_name;
  v.trigger = r.trigger;
  v.state = r.state;
  v.error = r.error;
  v.failure = r.failure;
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

StatusView::StatusView(const LiveConfig& config, Catalog& catalog, JobQueue& queue,
                       RepoRegistry& registry, LiveRuns& live_runs, StoreGauges& gauges,
                       const Clock& clock)
    : config_(config),
      catalog_(catalog),
      queue_(queue),
      registry_(registry),
      live_runs_(live_runs),
      gauges_(gauges),
      clock_(clock) {}

int64_t StatusView::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Result<SyncRunView> StatusView::GetRun(int64_t run_id) {
  if (std::optional<SyncRunView> live = live_runs_.Get(run_id)) return *live;
  ASSIGN_OR_RETURN(SyncRunRecord record, catalog_.GetRun(run_id));
  return ViewFromRecord(record);
}

Result<std::vector<RepoStatus>> StatusView::ListRepos() {
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  std::vector<RepoStatus> out;
  out.reserve(repos.size());
  const uint64_t physical = gauges_.LfsStorePhysicalBytes();  // one walk for the whole list
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  for (const RepoRecord& r : repos) {
    ASSIGN_OR_RETURN(RepoStatus s, Build(r, physical, jobs));
    out.push_back(std::move(s));
  }
  return out;
}

Result<RepoStatus> StatusView::GetRepoStatus(std::string_view name) {
  ASSIGN_OR_RETURN(RepoRecord repo, registry_.Get(name));
  return StatusOf(repo);
}

Result<RepoStatus> StatusView::StatusOf(const RepoRecord& repo) {
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  return Build(repo, gauges_.LfsStorePhysicalBytes(), jobs);
}

Result<RepoStatus> StatusView::Build(const RepoRecord& repo, uint64_t store_physical_bytes,
                                     const std::vector<QueuedJob>& jobs) {
  RepoStatus s;
  s.name = repo.name;
  s.upstream = repo.upstream;
  s.url = RedactUrlCredentials(registry_.UpstreamUrl(repo).value_or(""));
  s.state = repo.state;
  s.head = repo.head;
  s.last_success_at = repo.last_success_at;
  ASSIGN_OR_RETURN(auto last, catalog_.LastFinishedRun(repo.id));
  if (last) s.last_run = ViewFromRecord(*last);
  if (last && last->state == "failed") {
    s.last_failure = s.last_run;
  } else {
    ASSIGN_OR_RETURN(auto failed, catalog_.LastFailedRun(repo.id));
    if (failed) s.last_failure = ViewFromRecord(*failed);
  }
  if (s.last_failure) s.last_failure_at = s.last_failure->finished_at;
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
    if (j.kind != JobKind::kSync || j.repo != repo.name) continue;
    (j.running ? running : queued) = &j;
  }
  const QueuedJob* active = running != nullptr ? running : queued;
  if (active != nullptr) {
    std::optional<SyncRunView> live = live_runs_.Get(active->run_id);
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
    s.next_attempt = "retry " + std::to_string(queued->attempt) + "/" +
                     std::to_string(config_.Get()->retry_attempts);
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

Result<QueueView> StatusView::GetQueue() {
  ASSIGN_OR_RETURN(std::vector<QueuedJob> jobs, queue_.List());
  ASSIGN_OR_RETURN(std::vector<PausedHost> paused, queue_.PausedHosts(NowMs()));
  QueueView v;
  for (const QueuedJob& j : jobs) {
    QueueJobView view;
    view.run_id = j.run_id;
    view.kind = std::string(JobKindName(j.kind));
    view.repo = j.repo;
    view.build = j.build;
    view.ref = j.ref;
    view.trigger = j.trigger;
    view.state = j.running ? "running" : "queued";
    view.attempt = j.attempt;
    view.node = j.owner;
    view.host = j.host;
    view.queued_at = j.queued_at_ms / 1000;
    view.not_before = j.not_before_ms / 1000;
    v.jobs.push_back(std::move(view));
  }
  for (const PausedHost& p : paused) {
    v.paused_hosts.push_back({p.host, p.until_ms / 1000, p.reason});
  }
  return v;
}

void StatusView::SetNextPoll(std::string_view name, int64_t unix_seconds) {
  std::lock_guard lock(mu_);
  next_poll_[std::string(name)] = unix_seconds;
}

void StatusView::ForgetRepo(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = next_poll_.find(name); it != next_poll_.end()) next_poll_.erase(it);
}

}  // namespace mirrord
