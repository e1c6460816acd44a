// HfReaderPool: opened PublishedTreeReaders of the bare mirrors, kept for reuse between Hugging
// Face requests. Opening a repository with libgit2 (config, object database, pack indexes)
// costs more than answering a HEAD or a tree page from it; a metadata request takes an idle
// reader of its mirror, or opens one, and gives it back when done.
//
// Freshness: a reader reads the published refs from disk on every resolution, and libgit2
// re-scans the packs when an object is missing, so a reader opened before a sync sees what
// the sync published. A reader is not reused once the mirror's directory was replaced
// (another inode at the path) or after kHfReaderMaxAge, and at most `max_idle` idle
// readers are kept (the least recently returned are closed first).
// Thread-safety: Take/Put may be called from any thread; a taken reader belongs to its
// taker alone until it is given back (PooledTreeReader does that when destroyed).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "git/tree_reader.h"

namespace mirrord {

inline constexpr std::chrono::seconds kHfReaderMaxAge{60};
inline constexpr size_t kHfReaderMaxIdle = 64;

class HfReaderPool;

// A reader on loan from a pool (or owned alone, with no pool): given back when destroyed.
class PooledTreeReader {
 public:
  PooledTreeReader(PooledTreeReader&&) noexcept = default;
  PooledTreeReader& operator=(PooledTreeReader&&) noexcept = default;
  ~PooledTreeReader();

  PublishedTreeReader* operator->() { return reader_.get(); }
  PublishedTreeReader& operator*() { return *reader_; }

 private:
  friend class HfReaderPool;
  PooledTreeReader(HfReaderPool* pool, std::filesystem::path dir, ino_t inode,
                   std::chrono::steady_clock::time_point opened,
                   std::unique_ptr<PublishedTreeReader> reader)
      : pool_(pool),
        dir_(std::move(dir)),
        inode_(inode),
        opened_(opened),
        reader_(std::move(reader)) {}

  HfReaderPool* pool_ = nullptr;
  std::filesystem::path dir_;
  ino_t inode_ = 0;
  std::chrono::steady_clock::time_point opened_;
  std::unique_ptr<PublishedTreeReader> reader_;
};

class HfReaderPool {
 public:
  explicit HfReaderPool(size_t max_idle = kHfReaderMaxIdle) : max_idle_(max_idle) {}

  // A reader of the bare mirror at `dir`: an idle one if it is still valid, else a newly
  // opened one (PublishedTreeReader::Open's errors). Blocking: call it on the blocking pool.
  Result<PooledTreeReader> Take(const std::filesystem::path& dir);

  size_t idle() const;

 private:
  friend class PooledTreeReader;
  struct Idle {
    std::filesystem::path dir;
    ino_t inode = 0;
    std::chrono::steady_clock::time_point opened;
    std::unique_ptr<PublishedTreeReader> reader;
  };
  void Put(Idle idle);

  const size_t max_idle_;
  mutable std::mutex mu_;
  std::list<Idle> idle_;  // most recently returned first
};

}  // namespace mirrord
