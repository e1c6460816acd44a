#include "daemon/servable_repos.h"

#include <utility>
#include <vector>

#include "common/log.h"

namespace mirrord {

ServableRepos::~ServableRepos() { StopRefresher(); }

void ServableRepos::StartRefresher() {
  std::lock_guard lock(mu_);
  if (refresher_.joinable() || stopping_) return;
  refresher_ = std::thread([this] { RefreshLoop(); });
}

void ServableRepos::StopRefresher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

std::optional<std::filesystem::path> ServableRepos::Lookup(std::string_view name) const {
  {
    std::lock_guard lock(mu_);
    if (servable_.contains(name)) return config_.RepoDir(name);
    miss_ = true;
  }
  wake_.notify_one();
  return std::nullopt;
}

void ServableRepos::MarkServable(std::string_view name) {
  {
    std::lock_guard lock(mu_);
    servable_.insert(std::string(name));
    if (auto it = forgotten_.find(name); it != forgotten_.end()) forgotten_.erase(it);
  }
  Notify(name);
}

void ServableRepos::Forget(std::string_view name) {
  {
    std::lock_guard lock(mu_);
    if (auto it = servable_.find(name); it != servable_.end()) servable_.erase(it);
    forgotten_.insert(std::string(name));
  }
  Notify(name);
}

void ServableRepos::AddListener(std::function<void(std::string_view name)> listener) const {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

void ServableRepos::Notify(std::string_view name) const {
  std::vector<std::function<void(std::string_view)>> listeners;
  {
    std::lock_guard lock(mu_);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(name);
}

Status ServableRepos::Refresh() {
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  std::lock_guard lock(mu_);
  for (const RepoRecord& r : repos) {
    if (r.last_success_at > 0 && !forgotten_.contains(r.name)) servable_.insert(r.name);
  }
  return Status::Ok();
}

void ServableRepos::RefreshLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, refresh_every_, [this] { return stopping_ || miss_; });
    if (stopping_) break;
    miss_ = false;
    lock.unlock();
    if (Status s = Refresh(); !s.ok()) {
      MLOG(Warning) << "serving gate: cannot read the published repos: " << s.ToString();
    }
    lock.lock();
    // A flood of misses (clones of unknown names) costs at most one catalog read per gap.
    wake_.wait_for(lock, kMinRefreshGap, [this] { return stopping_; });
  }
}

}  // namespace mirrord
