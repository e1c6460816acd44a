#include "daemon/gc_service.h"

#include <boost/json.hpp>
#include <filesystem>

#include "common/log.h"
#include "git/repo_maintenance.h"

namespace mirrord {

namespace json = boost::json;

std::string GcOutcomeJson(const GcOutcome& outcome, size_t max_listed) {
  json::object lfs;
  lfs["swept_objects"] = outcome.lfs.swept.size();
  lfs["swept_bytes"] = outcome.lfs.swept_bytes;
  lfs["referenced_objects"] = outcome.lfs.mark.referenced_objects;
  lfs["referenced_bytes"] = outcome.lfs.mark.referenced_bytes;
  lfs["in_grace_objects"] = outcome.lfs.in_grace_objects;
  lfs["in_grace_bytes"] = outcome.lfs.in_grace_bytes;
  lfs["kept_on_recheck"] = outcome.lfs.kept_on_recheck;
  json::array objects;
  for (const LfsGcCandidate& c : outcome.lfs.swept) {
    if (objects.size() >= max_listed) break;
    objects.push_back(json::object{
        {"oid", c.oid}, {"size", c.size}, {"unreferenced_since", c.unreferenced_since}});
  }
  lfs["objects"] = std::move(objects);
  lfs["objects_truncated"] = outcome.lfs.swept.size() > max_listed;
  json::array repos;
  for (const GitPruneOutcome& g : outcome.git) {
    json::object o{{"name", g.repo}, {"objects", g.objects}, {"bytes", g.bytes}};
    if (!g.skipped.empty()) o["skipped"] = g.skipped;
    if (!g.error.empty()) o["error"] = g.error;
    repos.push_back(std::move(o));
  }
  json::object git{
      {"objects", outcome.git_objects}, {"bytes", outcome.git_bytes}, {"repos", std::move(repos)}};
  json::object o{{"dry_run", outcome.dry_run},
                 {"grace_seconds", outcome.grace_seconds},
                 {"lfs", std::move(lfs)},
                 {"git", std::move(git)},
                 {"reclaimed_bytes", outcome.lfs.swept_bytes + outcome.git_bytes}};
  if (!outcome.purged.empty()) o["purged"] = outcome.purged;
  return json::serialize(o);
}

GcService::GcService(LiveConfig& live, Catalog& catalog, BlobStore& store, SyncService& repos,
                     GcMetrics* metrics, const Clock& clock, std::function<void()> on_swept)
    : live_(live),
      catalog_(catalog),
      store_(store),
      repos_(repos),
      metrics_(metrics),
      clock_(clock),
      on_swept_(std::move(on_swept)) {}

GcService::~GcService() { Stop(); }

void GcService::Record(const Result<GcOutcome>& outcome) {
  if (outcome.ok() && !outcome->lfs.swept.empty() && !outcome->dry_run && on_swept_) on_swept_();
  if (metrics_ == nullptr) return;
  if (!outcome.ok()) {
    metrics_->RecordRun(false);
    return;
  }
  if (outcome->dry_run) return;
  if (outcome->purged.empty()) metrics_->RecordRun(true);
  metrics_->RecordSwept(true, outcome->lfs.swept.size(), outcome->lfs.swept_bytes);
  metrics_->RecordSwept(false, outcome->git_objects, outcome->git_bytes);
  metrics_->SetLfsStates(outcome->lfs.mark.referenced_objects, outcome->lfs.mark.referenced_bytes,
                         outcome->lfs.in_grace_objects, outcome->lfs.in_grace_bytes);
}

Result<GcOutcome> GcService::Run(const GcRequest& request) {
  std::lock_guard run_lock(run_mu_);
  const std::shared_ptr<const Config> config = live_.Get();
  GcOutcome out;
  out.dry_run = request.dry_run;
  const std::chrono::seconds grace = request.grace.value_or(config->gc.grace);
  out.grace_seconds = grace.count();
  auto collect = [&]() -> Status {
    LfsGcOptions options;
    options.grace = grace;
    options.dry_run = request.dry_run;
    ASSIGN_OR_RETURN(out.lfs, CollectLfsGarbage(catalog_, store_, Now(), options));
    ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
    for (const RepoRecord& repo : repos) {
      GitPruneOutcome g;
      g.repo = repo.name;
      const std::filesystem::path dir = config->RepoDir(repo.name);
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec)) continue;  // never synced
      if (repo.state == "syncing") {
        // A fetch writes objects no ref reaches yet; the next collection prunes this one.
        g.skipped = "syncing";
        out.git.push_back(std::move(g));
        continue;
      }
      Result<PruneReport> pruned = PruneUnreachable(dir, grace, request.dry_run);
      if (pruned.ok()) {
        g.objects = pruned->objects;
        g.bytes = pruned->bytes;
        out.git_objects += g.objects;
        out.git_bytes += g.bytes;
      } else {
        g.error = pruned.status().message();
        MLOG(Warning) << "gc: prune of " << repo.name << ": " << pruned.status().ToString();
      }
      out.git.push_back(std::move(g));
    }
    return Status::Ok();
  };
  Status s = collect();
  Result<GcOutcome> result = s.ok() ? Result<GcOutcome>(std::move(out)) : Result<GcOutcome>(s);
  Record(result);
  if (result.ok()) {
    MLOG(Info) << "gc" << (request.dry_run ? " (dry run)" : "") << ": " << result->lfs.swept.size()
               << " LFS objects (" << result->lfs.swept_bytes << " bytes) and "
               << result->git_objects << " git objects (" << result->git_bytes << " bytes) "
               << (request.dry_run ? "to reclaim" : "reclaimed") << "; "
               << result->lfs.in_grace_objects << " unreferenced LFS objects within the "
               << "grace of " << grace.count() << " s";
  }
  return result;
}

Result<GcOutcome> GcService::Purge(std::string_view name) {
  std::lock_guard run_lock(run_mu_);
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  ASSIGN_OR_RETURN(std::vector<LfsRefRecord> refs, catalog_.GetLfsRefs(repo.id));
  RETURN_IF_ERROR(repos_.RemoveRepo(repo.name));
  LfsGcOptions options;
  options.grace = std::chrono::seconds(0);
  options.only.emplace();
  for (const LfsRefRecord& r : refs) options.only->insert(r.oid);
  Result<LfsGcReport> lfs = CollectLfsGarbage(catalog_, store_, Now(), options);
  if (!lfs.ok()) {
    Record(lfs.status());
    return lfs.status().WithContext(repo.name + " was removed; freeing its LFS objects");
  }
  GcOutcome out;
  out.purged = repo.name;
  out.lfs = std::move(*lfs);
  MLOG(Info) << "gc: purged " << repo.name << ": " << out.lfs.swept.size() << " LFS objects ("
             << out.lfs.swept_bytes << " bytes) only it referenced";
  Result<GcOutcome> result(std::move(out));
  Record(result);
  return result;
}

void GcService::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void GcService::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GcService::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::chrono::seconds interval = live_.Get()->gc.interval;
    // Off: look again now and then, in case a reload turns it on.
    const bool off = interval.count() <= 0;
    if (off) interval = std::chrono::hours(1);
    if (cv_.wait_for(lock, interval, [this] { return stopping_; })) return;
    if (off || live_.Get()->gc.interval.count() <= 0) continue;
    lock.unlock();
    Result<GcOutcome> outcome = Run(GcRequest{});
    if (!outcome.ok()) MLOG(Error) << "gc: scheduled collection: " << outcome.status().ToString();
    lock.lock();
  }
}

}  // namespace mirrord
