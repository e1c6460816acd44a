// LiveRuns: the views of the runs executing on this node, with live progress, for status
// answers while the catalog still says "running".
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "common/api_types.h"

namespace mirrord {

class LiveRuns {
 public:
  void Begin(const SyncRunView& view) {
    std::lock_guard lock(mu_);
    runs_[view.run_id] = view;
  }
  void SetProgress(int64_t run_id, const SyncProgress& progress) {
    std::lock_guard lock(mu_);
    auto it = runs_.find(run_id);
    if (it != runs_.end()) it->second.progress = progress;
  }
  void End(int64_t run_id) {
    std::lock_guard lock(mu_);
    runs_.erase(run_id);
  }
  // The live view of `run_id`; nullopt when it is not running here.
  std::optional<SyncRunView> Get(int64_t run_id) const {
    std::lock_guard lock(mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<int64_t, SyncRunView> runs_;
};

}  // namespace mirrord
