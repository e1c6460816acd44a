#include "daemon/store_gauges.h"

#include "common/file_util.h"
#include "common/log.h"

namespace mirrord {

void StoreGauges::RefreshRepoStates() {
  Result<std::map<std::string, int64_t>> counts = catalog_.CountReposByState();
  if (counts.ok()) metrics_.SetReposByState(*counts);
}

void StoreGauges::MeasureRepo(const std::string& name) {
  Result<uint64_t> bytes = DiskUsageBytes(config_.RepoDir(name));
  if (!bytes.ok()) {
    MLOG(Warning) << "store size of " << name << ": " << bytes.status().ToString();
    return;
  }
  uint64_t total = 0;
  {
    std::lock_guard lock(mu_);
    uint64_t& known = repo_bytes_[name];
    repo_bytes_total_ = repo_bytes_total_ - known + *bytes;
    known = *bytes;
    total = repo_bytes_total_;
  }
  metrics_.SetStoreBytes("git", total);
}

void StoreGauges::ForgetRepo(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = repo_bytes_.find(name);
  if (it == repo_bytes_.end()) return;
  repo_bytes_total_ -= it->second;
  repo_bytes_.erase(it);
}

void StoreGauges::MeasureLfsStore() {
  if (lfs_ == nullptr) return;
  Result<uint64_t> bytes = DiskUsageBytes(config_.LfsStoreDir());
  if (!bytes.ok()) {
    MLOG(Warning) << "LFS store size: " << bytes.status().ToString();
    return;
  }
  metrics_.SetStoreBytes("lfs", *bytes);
}

uint64_t StoreGauges::LfsStorePhysicalBytes() const {
  if (lfs_ == nullptr) return 0;
  Result<BlobStore::Usage> usage = lfs_->StoreUsage();
  return usage.ok() ? usage->bytes : 0;
}

}  // namespace mirrord
