// StoreGauges: the disk and repo-state gauges (mirrord_store_bytes, mirrord_repos). A repo's
// mirror is measured at start and after each of its syncs (one small walk), the LFS store
// after an LFS phase or a pull-through fetch; the git total is kept as a running sum.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/config.h"
#include "daemon/lfs_sync.h"
#include "daemon/metrics.h"
#include "storage/catalog.h"

namespace mirrord {

class StoreGauges {
 public:
  // Everything must outlive this; `lfs` may be null (no LFS store).
  StoreGauges(const Config& config, Catalog& catalog, Metrics& metrics, LfsSyncer* lfs)
      : config_(config), catalog_(catalog), metrics_(metrics), lfs_(lfs) {}

  // Republishes the count of repos per state.
  void RefreshRepoStates();
  // Measures the mirror of `name` (a missing directory counts 0) and republishes the total.
  void MeasureRepo(const std::string& name);
  // Drops `name` from the running total (after MeasureRepo found it gone).
  void ForgetRepo(const std::string& name);
  void MeasureLfsStore();
  // The LFS blob store's size on disk (0 without LFS or when it cannot be read). Walks the
  // store: once per status answer, not per repo.
  uint64_t LfsStorePhysicalBytes() const;

 private:
  const Config& config_;
  Catalog& catalog_;
  Metrics& metrics_;
  LfsSyncer* const lfs_;
  std::mutex mu_;
  std::map<std::string, uint64_t> repo_bytes_;  // repo -> bytes of its mirror on disk
  uint64_t repo_bytes_total_ = 0;               // sum of repo_bytes_
};

}  // namespace mirrord
