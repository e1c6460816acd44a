#include "daemon/hf_reader_pool.h"

#include <sys/stat.h>

#include <utility>

namespace mirrord {
namespace {

// The directory's inode, or 0 when it cannot be stat'ed.
ino_t InodeOf(const std::filesystem::path& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

PooledTreeReader::~PooledTreeReader() {
  if (pool_ != nullptr && reader_ != nullptr) {
    pool_->Put({std::move(dir_), inode_, opened_, std::move(reader_)});
  }
}

Result<PooledTreeReader> HfReaderPool::Take(const std::filesystem::path& dir) {
  const ino_t inode = InodeOf(dir);
  const auto now = std::chrono::steady_clock::now();
  std::unique_ptr<PublishedTreeReader> stale;  // closed outside the lock
  {
    std::lock_guard lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->dir != dir) continue;
      if (inode != 0 && it->inode == inode && now - it->opened < kHfReaderMaxAge) {
        Idle found = std::move(*it);
        idle_.erase(it);
        return PooledTreeReader(this, std::move(found.dir), found.inode, found.opened,
                                std::move(found.reader));
      }
      stale = std::move(it->reader);
      idle_.erase(it);
      break;
    }
  }
  stale.reset();
  ASSIGN_OR_RETURN(PublishedTreeReader reader, PublishedTreeReader::Open(dir));
  return PooledTreeReader(this, dir, inode, now,
                          std::make_unique<PublishedTreeReader>(std::move(reader)));
}

void HfReaderPool::Put(Idle idle) {
  if (idle.inode == 0 || std::chrono::steady_clock::now() - idle.opened >= kHfReaderMaxAge) {
    return;  // not worth keeping; closed here, outside the lock
  }
  std::unique_ptr<PublishedTreeReader> evicted;
  std::lock_guard lock(mu_);
  idle_.push_front(std::move(idle));
  if (idle_.size() > max_idle_) {
    evicted = std::move(idle_.back().reader);
    idle_.pop_back();
  }
}

size_t HfReaderPool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

}  // namespace mirrord
