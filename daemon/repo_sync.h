// RepoSync: one sync of one repository, start to finish: open (or create) the bare
// mirror, fetch into the hidden staging namespace, publish the new ref set atomically,
// then run serving maintenance. Knows nothing of queues or the catalog.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/api_types.h"
#include "common/status.h"
#include "git/ref_publisher.h"

namespace mirrord {

struct RepoSyncRequest {
  std::filesystem::path repo_dir;
  std::string url;                     // may hold no credentials; the token goes separately
  std::string token;                   // empty: anonymous
  std::vector<std::string> refspecs;
  std::chrono::seconds stall_timeout{60};
  bool maintenance = true;
  const std::atomic<bool>* cancel = nullptr;
  // Called from the syncing thread with the phase and transfer counters.
  std::function<void(const SyncProgress&)> on_progress;
};

struct RepoSyncResult {
  std::vector<PublishedRef> refs;      // the set now published
  std::string head;                    // e.g. "refs/heads/main"
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
  uint64_t received_bytes = 0;
  uint64_t received_objects = 0;
  std::string maintenance_error;       // maintenance failures do not fail the sync
};

// On success the mirror's published refs equal the upstream's (per the refspecs) and the
// result says what changed. On failure the previously published refs are untouched and
// still served; the Status says why (its message never contains the token).
Result<RepoSyncResult> SyncRepository(const RepoSyncRequest& request);

}  // namespace mirrord
