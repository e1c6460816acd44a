#include "daemon/sync_scheduler.h"

#include <boost/asio/post.hpp>

#include "common/admin_token.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/repo_name.h"
#include "daemon/repo_sync.h"
#include "git/mirror_repository.h"

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

}  // namespace

SyncScheduler::SyncScheduler(const Config& config, Catalog& catalog, Metrics& metrics,
                             LfsSyncer* lfs, const Clock& clock)
    : config_(config),
      catalog_(catalog),
      metrics_(metrics),
      lfs_(lfs),
      clock_(clock),
      workers_(static_cast<size_t>(config.sync_concurrency)) {}

SyncScheduler::~SyncScheduler() { Shutdown(); }

Status SyncScheduler::Start() {
  ASSIGN_OR_RETURN(int interrupted,
                   catalog_.MarkRunningRunsInterrupted(Now(), "mirrord stopped during the sync"));
  if (interrupted > 0) {
    MLOG(Warning) << interrupted << " sync run(s) were interrupted by the last stop; "
                  << "they will be retried on the next trigger";
  }
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  for (const RepoRecord& repo : repos) {
    std::filesystem::path dir = config_.RepoDir(repo.name);
    // Also for a missing dir: an interrupted first creation leaves a temp sibling.
    auto removed = MirrorRepository::RecoverAfterCrash(dir);
    if (!removed.ok()) {
      MLOG(Error) << "recovery of " << repo.name << " failed: " << removed.status().ToString();
      continue;
    }
    for (const auto& path : *removed) {
      MLOG(Warning) << "recovery of " << repo.name << ": removed stale " << path;
    }
    if (repo.last_success_at > 0) {
      std::lock_guard lock(mu_);
      servable_.insert(repo.name);
    }
  }
  // Runs still queued at the last stop are started again (same run id), one per repo.
  ASSIGN_OR_RETURN(std::vector<SyncRunRecord> unfinished, catalog_.UnfinishedRuns());
  for (SyncRunRecord& run : unfinished) {
    if (run.state != "queued") continue;
    std::lock_guard lock(mu_);
    if (slots_.contains(run.repo_name)) {
      run.state = "interrupted";
      run.error = "superseded by another queued run after a restart";
      run.finished_at = Now();
      if (Status s = catalog_.FinishRun(run); !s.ok()) MLOG(Error) << "catalog: " << s.ToString();
      continue;
    }
    live_runs_[run.id] = ViewFromRecord(run);
    StartRunLocked(run.repo_name, run.id);
    MLOG(Info) << "resuming queued sync of " << run.repo_name << " (run " << run.id << ")";
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
  return Status::Ok();
}

void SyncScheduler::BeginShutdown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  for (auto& [name, slot] : slots_) {
    if (slot.cancel) slot.cancel->store(true);
  }
}

void SyncScheduler::Shutdown() {
  BeginShutdown();
  workers_.join();
}

Status SyncScheduler::FetchLfsObject(std::string_view name, const LfsRefRecord& reference) {
  if (lfs_ == nullptr) return FailedPrecondition("LFS is not enabled");
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::string url, UpstreamUrl(repo));
  return lfs_->FetchOne(url, UpstreamToken(repo), reference, config_.stall_timeout);
}

std::optional<std::filesystem::path> SyncScheduler::ServableRepoDir(std::string_view name) const {
  std::lock_guard lock(mu_);
  if (!servable_.contains(std::string(name))) return std::nullopt;
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
    return BuildStatus(*existing, StorePhysicalBytes());
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
  return BuildStatus(inserted, StorePhysicalBytes());
}

Result<int64_t> SyncScheduler::RequestSync(std::string_view name_in, SyncTrigger trigger) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  std::lock_guard lock(mu_);
  if (shutting_down_) return Cancelled("mirrord is shutting down");
  RepoSlot& slot = slots_[name];
  if (slot.queued_run != 0) return slot.queued_run;  // coalesce into the waiting run
  ASSIGN_OR_RETURN(int64_t run_id, catalog_.InsertRun(repo.id, SyncTriggerName(trigger), Now()));
  SyncRunView view;
  view.run_id = run_id;
  view.repo = name;
  view.trigger = std::string(SyncTriggerName(trigger));
  view.state = "queued";
  view.progress.phase = "queued";
  view.queued_at = Now();
  live_runs_[run_id] = view;
  if (slot.running_run == 0) {
    StartRunLocked(name, run_id);
  } else {
    slot.queued_run = run_id;  // starts when the running one finishes
  }
  return run_id;
}

void SyncScheduler::StartRunLocked(const std::string& name, int64_t run_id) {
  RepoSlot& slot = slots_[name];
  slot.running_run = run_id;
  slot.cancel = std::make_shared<std::atomic<bool>>(false);
  boost::asio::post(
      workers_, [this, name, run_id, cancel = slot.cancel] { ExecuteRun(name, run_id, cancel); });
}

void SyncScheduler::ExecuteRun(const std::string& name, int64_t run_id,
                               std::shared_ptr<std::atomic<bool>> cancel) {
  auto started = clock_.SteadyNow();
  SyncRunRecord record;
  record.id = run_id;
  record.repo_name = name;
  Status outcome = Status::Ok();
  RepoSyncResult result;
  auto repo = catalog_.GetRepo(name);
  if (!repo.ok()) {
    outcome = repo.status();
  } else {
    record.repo_id = repo->id;
    {
      std::lock_guard lock(mu_);
      ++running_;
      metrics_.SetSyncsRunning(running_);
      auto& view = live_runs_[run_id];
      view.state = "running";
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
      req.refspecs = config_.refspecs;
      for (const RepoConfig& rc : config_.repos) {
        if (rc.name == name && !rc.refspecs.empty()) req.refspecs = rc.refspecs;
      }
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
      MLOG(Info) << "sync " << name << " (run " << run_id << ") from "
                 << RedactUrlCredentials(*url);
      auto synced = SyncRepository(req);
      if (synced.ok()) {
        result = std::move(*synced);
        std::vector<RefRecord> refs;
        refs.reserve(result.refs.size());
        for (const PublishedRef& r : result.refs) refs.push_back({r.name, r.oid, r.peeled});
        outcome = catalog_.ReplaceRefs(repo->id, refs, result.head, Now(),
                                       result.lfs ? &result.lfs->references : nullptr);
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

  {
    std::lock_guard lock(mu_);
    if (outcome.ok()) servable_.insert(name);
    live_runs_.erase(run_id);
    if (repo.ok()) {
      --running_;
      metrics_.SetSyncsRunning(running_);
    }
    RepoSlot& slot = slots_[name];
    slot.running_run = 0;
    slot.cancel.reset();
    if (slot.queued_run != 0 && !shutting_down_) {
      int64_t next = slot.queued_run;
      slot.queued_run = 0;
      StartRunLocked(name, next);
    } else if (slot.queued_run == 0) {
      slots_.erase(name);
    }
  }
  run_finished_.notify_all();
  RefreshRepoGauges();
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
  for (const RepoRecord& r : repos) {
    ASSIGN_OR_RETURN(RepoStatus s, BuildStatus(r, physical));
    out.push_back(std::move(s));
  }
  return out;
}

Result<RepoStatus> SyncScheduler::GetRepoStatus(std::string_view name_in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  return BuildStatus(repo, StorePhysicalBytes());
}

Status SyncScheduler::RemoveRepo(std::string_view name_in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  {
    std::unique_lock lock(mu_);
    servable_.erase(name);
    auto it = slots_.find(name);
    if (it != slots_.end()) {
      if (it->second.queued_run != 0) {
        live_runs_.erase(it->second.queued_run);
        it->second.queued_run = 0;
      }
      if (it->second.cancel) it->second.cancel->store(true);
    }
    run_finished_.wait(lock, [&] { return !slots_.contains(name); });
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
  RefreshRepoGauges();
  return Status::Ok();
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

Result<RepoStatus> SyncScheduler::BuildStatus(const RepoRecord& repo,
                                              uint64_t store_physical_bytes) {
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
  std::lock_guard lock(mu_);
  auto slot = slots_.find(repo.name);
  if (slot != slots_.end()) {
    int64_t active = slot->second.running_run ? slot->second.running_run : slot->second.queued_run;
    auto run = live_runs_.find(active);
    if (run != live_runs_.end()) s.active_run = run->second;
  }
  return s;
}

void SyncScheduler::RefreshRepoGauges() {
  auto repos = catalog_.ListRepos();
  if (!repos.ok()) return;
  std::map<std::string, int64_t> counts;
  for (const RepoRecord& r : *repos) ++counts[r.state];
  metrics_.SetReposByState(counts);
}

}  // namespace mirrord
