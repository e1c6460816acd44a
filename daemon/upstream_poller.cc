#include "daemon/upstream_poller.h"

#include <boost/asio/post.hpp>
#include <set>

#include "common/log.h"

namespace mirrord {
namespace {
// The repo list is re-read this often (new and removed repos), not on every tick.
constexpr int64_t kRefreshRepoListMs = 15000;
}  // namespace

UpstreamPoller::UpstreamPoller(const LiveConfig& config, PollTarget& target, Metrics& metrics,
                               int concurrency, const Clock& clock)
    : config_(config),
      target_(target),
      metrics_(metrics),
      clock_(clock),
      pool_(static_cast<size_t>(std::max(1, concurrency))),
      rng_(std::random_device{}()) {}

UpstreamPoller::~UpstreamPoller() { Stop(); }

void UpstreamPoller::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void UpstreamPoller::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  pool_.join();
}

int64_t UpstreamPoller::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

std::chrono::seconds UpstreamPoller::IntervalFor(const std::string& repo) const {
  const std::shared_ptr<const Config> config = config_.Get();
  for (const RepoConfig& rc : config->repos) {
    if (rc.name == repo && rc.poll_interval) return *rc.poll_interval;
  }
  return config->default_poll_interval;
}

int64_t UpstreamPoller::JitteredMs(int64_t from_ms, std::chrono::seconds interval, double lo,
                                   double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  return from_ms + static_cast<int64_t>(static_cast<double>(interval.count()) * 1000.0 * d(rng_));
}

void UpstreamPoller::Loop() {
  int64_t last_refresh = 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const int64_t now = NowMs();
    if (now - last_refresh >= kRefreshRepoListMs) {
      lock.unlock();
      Result<std::vector<std::string>> repos = target_.RepoNames();
      lock.lock();
      last_refresh = now;
      if (repos.ok()) {
        std::set<std::string> names;
        for (const std::string& name : *repos) {
          names.insert(name);
          // A repo seen for the first time is polled somewhere in its first interval, so
          // that a restart does not poll every repo at once.
          if (!due_ms_.contains(name)) {
            due_ms_[name] = JitteredMs(now, IntervalFor(name), 0.0, 1.0);
            target_.SetNextPoll(name, due_ms_[name] / 1000);
          }
        }
        std::erase_if(due_ms_, [&](const auto& e) { return !names.contains(e.first); });
      } else {
        MLOG(Warning) << "poller: " << repos.status().ToString();
      }
    }
    for (auto& [repo, due] : due_ms_) {
      if (due > now || in_flight_[repo]) continue;
      const std::chrono::seconds interval = IntervalFor(repo);
      due = JitteredMs(now, interval, 0.9, 1.1);
      target_.SetNextPoll(repo, due / 1000);
      in_flight_[repo] = true;
      boost::asio::post(pool_, [this, repo = repo, interval] {
        PollOne(repo, interval);
        std::lock_guard done(mu_);
        in_flight_[repo] = false;
      });
    }
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void UpstreamPoller::PollOne(const std::string& repo, std::chrono::seconds interval) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
  }
  if (target_.HasPendingWork(repo)) return;  // a sync is coming anyway
  const int64_t now = NowMs();
  const int64_t interval_ms = std::chrono::milliseconds(interval).count();
  // Nodes sharing the queue poll each repo once per interval between them: the first poll
  // claims the repo for half an interval. (Each node's own polls are 0.9-1.1 intervals
  // apart, so its next one always finds the claim expired.)
  Result<bool> mine = target_.ClaimPoll(repo, now, interval_ms / 2);
  if (!mine.ok()) {
    MLOG(Warning) << "poller: " << mine.status().ToString();
    return;
  }
  if (!*mine) return;
  Result<bool> changed = target_.UpstreamChanged(repo);
  if (!changed.ok()) {
    metrics_.RecordPoll("failed");
    MLOG(Warning) << "poll of " << repo << " failed: " << changed.status().ToString();
    return;
  }
  metrics_.RecordPoll(*changed ? "changed" : "unchanged");
  if (!*changed) return;
  Result<int64_t> run = target_.RequestSync(repo, SyncTrigger::kPoll);
  if (!run.ok()) {
    MLOG(Warning) << "poll of " << repo << ": cannot queue a sync: " << run.status().ToString();
  } else {
    MLOG(Info) << "poll: " << repo << " changed upstream; sync queued (run " << *run << ")";
  }
}

}  // namespace mirrord
