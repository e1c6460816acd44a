#include "daemon/config_reconciler.h"

#include <map>

#include "common/log.h"

namespace mirrord {
namespace {

// The catalog's form of a [[repos]] entry's source (as SyncScheduler registers it).
RepoSpec SpecOf(const RepoConfig& rc) {
  return RepoSpec{rc.name, rc.upstream, rc.upstream.empty() ? "" : rc.path, rc.url};
}

bool SameSource(const RepoRecord& r, const RepoSpec& s) {
  return r.upstream == s.upstream && r.path == s.path && r.url == s.url;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string ReconcileReport::Summary(size_t configured) const {
  std::string s = std::to_string(configured) +
                  " repos in the config: " + std::to_string(added.size()) + " added, " +
                  std::to_string(repointed.size()) + " re-pointed, " +
                  std::to_string(retired.size()) + " removed, " + std::to_string(unretired.size()) +
                  " taken back";
  if (!failed.empty()) s += ", " + std::to_string(failed.size()) + " failed (" + Join(failed) + ")";
  return s;
}

ConfigReconciler::ConfigReconciler(Catalog& catalog, RepoRegistry& registry, ReconcileHooks hooks,
                                   const Clock& clock)
    : catalog_(catalog), registry_(registry), hooks_(std::move(hooks)), clock_(clock) {}

Result<ReconcileReport> ConfigReconciler::Reconcile(const Config& config) {
  ASSIGN_OR_RETURN(std::vector<RepoRecord> existing, catalog_.ListRepos());
  std::map<std::string, RepoRecord> by_name;
  for (RepoRecord& r : existing) by_name.emplace(r.name, std::move(r));
  const int64_t now = ToUnixSeconds(clock_.Now());
  ReconcileReport report;

  for (const RepoConfig& rc : config.repos) {
    const RepoSpec spec = SpecOf(rc);
    auto it = by_name.find(rc.name);
    if (it == by_name.end()) {
      Result<RepoRegistry::Registered> registered = registry_.Register(spec, "config");
      if (!registered.ok()) {
        MLOG(Error) << "[[repos]] " << rc.name << ": " << registered.status().ToString()
                    << "; skipped until the next reload";
        report.failed.push_back(rc.name);
        continue;
      }
      report.added.push_back(rc.name);
      hooks_.queue_sync(rc.name);
      continue;
    }
    RepoRecord& repo = it->second;
    Status s = Status::Ok();
    if (repo.origin != "config" || repo.retired_at != 0) {
      s = catalog_.SetRepoOrigin(repo.id, "config", 0);
      if (s.ok()) {
        if (repo.retired_at != 0) {
          MLOG(Info) << rc.name << " is back in the config: mirrored again";
        } else {
          MLOG(Info) << rc.name << " (added through the API) is now managed by the config";
        }
        report.unretired.push_back(rc.name);
      }
    }
    if (s.ok() && !SameSource(repo, spec)) {
      const std::string before = RedactUrlCredentials(registry_.UpstreamUrl(repo).value_or("?"));
      s = catalog_.SetRepoSource(repo.id, spec.upstream, spec.path, spec.url, now);
      if (s.ok()) {
        repo.upstream = spec.upstream;
        repo.path = spec.path;
        repo.url = spec.url;
        MLOG(Warning) << rc.name << " re-pointed from " << before << " to "
                      << RedactUrlCredentials(registry_.UpstreamUrl(repo).value_or("?"))
                      << ": refetching from the new source (clients keep the current state "
                         "until it is published)";
        report.repointed.push_back(rc.name);
        hooks_.queue_sync(rc.name);
      }
    } else if (s.ok() && repo.last_success_at == 0 && repo.state != "syncing") {
      hooks_.queue_sync(rc.name);  // never synced (a failed first sync, or a crash)
    }
    if (!s.ok()) {
      MLOG(Error) << "[[repos]] " << rc.name << ": " << s.ToString();
      report.failed.push_back(rc.name);
    }
    by_name.erase(it);
  }

  // What is left: in the catalog, not in the config.
  for (auto& [name, repo] : by_name) {
    if (repo.origin != "config" || repo.retired_at != 0) continue;
    if (Status s = catalog_.SetRepoOrigin(repo.id, "config", now); !s.ok()) {
      MLOG(Error) << name << ": " << s.ToString();
      report.failed.push_back(name);
      continue;
    }
    hooks_.stop(name);
    MLOG(Warning) << name
                  << " was removed from the config: no longer synced; its mirror is "
                     "kept and served until `mirrorctl remove "
                  << name << "` or [sync] retired_retention ("
                  << config.retired_retention.count() / 86400 << "d)";
    report.retired.push_back(name);
  }
  return report;
}

std::vector<std::string> ConfigReconciler::PurgeExpired(std::chrono::seconds retention) {
  std::vector<std::string> purged;
  Result<std::vector<RepoRecord>> repos = catalog_.ListRepos();
  if (!repos.ok()) {
    MLOG(Error) << "retired repos: " << repos.status().ToString();
    return purged;
  }
  const int64_t now = ToUnixSeconds(clock_.Now());
  for (const RepoRecord& r : *repos) {
    if (r.retired_at == 0 || now - r.retired_at < retention.count()) continue;
    MLOG(Info) << r.name << " left the config " << (now - r.retired_at) / 86400
               << " days ago ([sync] retired_retention): deleting its mirror";
    if (Status s = hooks_.purge(r.name); !s.ok()) {
      MLOG(Error) << "deleting " << r.name << ": " << s.ToString();
      continue;
    }
    purged.push_back(r.name);
  }
  return purged;
}

}  // namespace mirrord
