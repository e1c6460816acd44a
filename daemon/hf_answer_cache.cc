#include "daemon/hf_answer_cache.h"

#include <initializer_list>
#include <iterator>
#include <utility>

namespace mirrord {
namespace {

// Keys: a kind letter, then the fields separated by NUL (which no field can contain: ids,
// revisions and paths are percent-decoded but NUL is refused by the URL parser and git).
std::string Key(char kind, std::initializer_list<std::string_view> fields) {
  size_t n = 1;
  for (std::string_view f : fields) n += f.size() + 1;
  std::string k;
  k.reserve(n);
  k.push_back(kind);
  for (std::string_view f : fields) {
    k.push_back('\0');
    k.append(f);
  }
  return k;
}

// What an entry costs beyond its key: the strings it owns plus a fixed overhead for the
// list node, the index slot and the shared_ptr control block.
constexpr size_t kEntryOverhead = 160;

size_t Cost(const TreeEntryInfo& e) {
  return e.path.size() + e.oid.size() + (e.lfs ? e.lfs->oid.size() + 16 : 0) + 64;
}

}  // namespace

HfAnswerCache::HfAnswerCache(size_t max_entries, size_t max_bytes,
                             std::chrono::milliseconds revision_ttl)
    : max_entries_(max_entries), max_bytes_(max_bytes), revision_ttl_(revision_ttl) {}

uint64_t HfAnswerCache::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void HfAnswerCache::Invalidate() {
  std::lock_guard lock(mu_);
  ++generation_;  // stored revisions are now invalid; they go when next found or evicted
}

void HfAnswerCache::ForgetStoredObjects() {
  std::lock_guard lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (const auto* file = std::get_if<std::shared_ptr<const HfCachedFile>>(&it->value);
        file != nullptr && *file && (*file)->in_store) {
      EraseLocked(it);
    }
    it = next;
  }
}

size_t HfAnswerCache::entries() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

size_t HfAnswerCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

void HfAnswerCache::EraseLocked(List::iterator it) {
  index_.erase(std::string_view(it->key));
  bytes_ -= it->bytes;
  lru_.erase(it);
}

const HfAnswerCache::Entry* HfAnswerCache::Find(const std::string& key) {
  auto found = index_.find(std::string_view(key));
  if (found == index_.end()) return nullptr;
  List::iterator it = found->second;
  if (std::holds_alternative<HfCachedRevision>(it->value) &&
      (it->generation != generation_ || Clock::now() >= it->expires)) {
    EraseLocked(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return &*it;
}

void HfAnswerCache::Put(Entry entry) {
  entry.bytes += entry.key.size() + kEntryOverhead;
  if (entry.bytes > max_bytes_ / 16 || max_entries_ == 0) return;
  if (auto found = index_.find(std::string_view(entry.key)); found != index_.end()) {
    EraseLocked(found->second);
  }
  while (!lru_.empty() && (lru_.size() >= max_entries_ || bytes_ + entry.bytes > max_bytes_)) {
    EraseLocked(std::prev(lru_.end()));
  }
  bytes_ += entry.bytes;
  lru_.push_front(std::move(entry));
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
}

std::optional<HfCachedRevision> HfAnswerCache::FindRevision(HfRepoType type,
                                                            std::string_view repo_id,
                                                            std::string_view revision) {
  const std::string key = Key('r', {type == HfRepoType::kDataset ? "d" : "m", repo_id, revision});
  std::lock_guard lock(mu_);
  const Entry* e = Find(key);
  if (e == nullptr) return std::nullopt;
  return std::get<HfCachedRevision>(e->value);
}

void HfAnswerCache::PutRevision(uint64_t generation, HfRepoType type, std::string_view repo_id,
                                std::string_view revision, HfCachedRevision value) {
  Entry e;
  e.key = Key('r', {type == HfRepoType::kDataset ? "d" : "m", repo_id, revision});
  e.bytes = value.repo_name.size() + value.repo_dir.native().size() + value.commit.size();
  e.generation = generation;
  e.expires = Clock::now() + revision_ttl_;
  e.value = std::move(value);
  std::lock_guard lock(mu_);
  if (generation != generation_) return;  // a publication happened during the lookup
  Put(std::move(e));
}

template <typename T>
std::shared_ptr<const T> HfAnswerCache::FindImmutable(const std::string& key) {
  std::lock_guard lock(mu_);
  const Entry* e = Find(key);
  if (e == nullptr) return nullptr;
  return std::get<std::shared_ptr<const T>>(e->value);
}

template <typename T>
void HfAnswerCache::PutImmutable(std::string key, size_t bytes, T value) {
  Entry e;
  e.key = std::move(key);
  e.bytes = bytes;
  e.value = std::make_shared<const T>(std::move(value));
  std::lock_guard lock(mu_);
  Put(std::move(e));
}

std::shared_ptr<const HfCachedFile> HfAnswerCache::FindFile(std::string_view repo_name,
                                                            std::string_view commit,
                                                            std::string_view path) {
  return FindImmutable<HfCachedFile>(Key('f', {repo_name, commit, path}));
}

void HfAnswerCache::PutFile(std::string_view repo_name, std::string_view commit,
                            std::string_view path, HfCachedFile value) {
  const size_t bytes = Cost(value.entry) + (value.body ? value.body->size() : 0);
  PutImmutable(Key('f', {repo_name, commit, path}), bytes, std::move(value));
}

std::shared_ptr<const HfCachedPage> HfAnswerCache::FindPage(std::string_view repo_name,
                                                            std::string_view commit,
                                                            std::string_view shape) {
  return FindImmutable<HfCachedPage>(Key('p', {repo_name, commit, shape}));
}

void HfAnswerCache::PutPage(std::string_view repo_name, std::string_view commit,
                            std::string_view shape, HfCachedPage value) {
  const size_t bytes = value.body.size();
  PutImmutable(Key('p', {repo_name, commit, shape}), bytes, std::move(value));
}

}  // namespace mirrord
