#include "daemon/servable_repos.h"

namespace mirrord {

std::optional<std::filesystem::path> ServableRepos::Lookup(std::string_view name) const {
  {
    std::lock_guard lock(mu_);
    if (servable_.contains(name)) return config_.RepoDir(name);
  }
  Result<RepoRecord> repo = catalog_.GetRepo(name);
  if (!repo.ok() || repo->last_success_at == 0) return std::nullopt;
  std::lock_guard lock(mu_);
  servable_.insert(std::string(name));
  return config_.RepoDir(name);
}

void ServableRepos::MarkServable(std::string_view name) {
  std::lock_guard lock(mu_);
  servable_.insert(std::string(name));
}

void ServableRepos::Forget(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = servable_.find(name); it != servable_.end()) servable_.erase(it);
}

}  // namespace mirrord
