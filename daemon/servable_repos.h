// ServableRepos: the serving gate. A mirror is served once it has been published at least
// once (by this node or another sharing the store); until then a clone gets 404.
//
// Lookup answers from memory only: it runs on the HTTP threads, which must never wait for
// SQLite (a busy catalog would stall every client of the thread). The set is filled by
// this node's publications (MarkServable), by startup recovery, and by a refresher thread
// that reads the catalog's published repos (those of other nodes) every `refresh_every`
// and at once after a miss. So a repo another node published is served from the next
// refresh on: a clone in between gets 404, as it would have a moment earlier.
// Listeners hear of every publication (MarkServable) and removal (Forget) made here, after
// the change, on the thread that made it; they must be quick and must not call back in.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config.h"
#include "storage/catalog.h"

namespace mirrord {

class ServableRepos {
 public:
  static constexpr std::chrono::seconds kRefreshEvery{2};
  static constexpr std::chrono::milliseconds kMinRefreshGap{250};

  // `config` and `catalog` must outlive this. The refresher starts with StartRefresher.
  ServableRepos(const Config& config, Catalog& catalog,
                std::chrono::milliseconds refresh_every = kRefreshEvery)
      : config_(config), catalog_(catalog), refresh_every_(refresh_every) {}
  ~ServableRepos();
  ServableRepos(const ServableRepos&) = delete;
  ServableRepos& operator=(const ServableRepos&) = delete;

  // Starts the refresher thread (idempotent); StopRefresher (or the destructor) joins it.
  void StartRefresher();
  void StopRefresher();

  // The bare mirror to serve for `name`, if it is known to have been published. Never
  // touches SQLite or the disk; a miss wakes the refresher.
  std::optional<std::filesystem::path> Lookup(std::string_view name) const;
  void MarkServable(std::string_view name);
  void Forget(std::string_view name);
  // Reads the catalog's published repos into the set now (the refresher's step; also
  // called by startup). On failure the set is unchanged.
  Status Refresh();
  // Adds a listener (const: it changes nothing that is served). Call before serving starts.
  void AddListener(std::function<void(std::string_view name)> listener) const;

 private:
  void RefreshLoop();
  void Notify(std::string_view name) const;

  const Config& config_;
  Catalog& catalog_;
  const std::chrono::milliseconds refresh_every_;
  mutable std::mutex mu_;
  mutable std::condition_variable wake_;
  mutable bool miss_ = false;
  bool stopping_ = false;
  std::set<std::string, std::less<>> servable_;   // "published at least once"
  std::set<std::string, std::less<>> forgotten_;  // removed here: a refresh must not revive
  std::thread refresher_;
  mutable std::vector<std::function<void(std::string_view)>> listeners_;
};

}  // namespace mirrord
