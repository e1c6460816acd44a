// HfAnswerCache: what the Hugging Face endpoint has already worked out, kept in memory so that
// a repeated HEAD /resolve/ or tree page is answered on the network thread, with no hop to
// the blocking pool, no catalog query, no ref file read and no libgit2.
//
// Three kinds of answer:
//   - revisions: (repo type, repo id, revision) -> the mirror (name, directory, catalog id)
//     and the published commit it resolved to. Mutable: a sync moves branches, a repo can be
//     removed. Such an entry is dropped by Invalidate() (called whenever a mirror is
//     published or forgotten, see main.cc) and expires kHfRevisionTtl after it was stored
//     (another node sharing the store may publish without telling this one).
//   - files: (mirror, commit, path) -> the tree entry, and for a small plain file its bytes.
//   - pages: a serialized API answer keyed by the mirror, commit and the request's shape.
//   Files and pages hang off a commit id: they never change and are only ever evicted.
//
// Freshness across a publication: take generation() BEFORE the lookup that produces a
// revision and pass it to PutRevision; a revision is not stored when Invalidate() ran in
// between (so a lookup that read the old refs cannot re-install them after the publication).
//
// Bounds (every input is an anonymous client's): at most `max_entries` entries and
// `max_bytes` bytes (keys and values counted) in all, least recently used evicted first; a
// single answer over max_bytes / 16 is not stored. Callers store only what exists (found
// files, resolved revisions, listings of existing directories), so random paths or
// revisions cost nothing here; a flood of real ones can only cycle the LRU.
// Thread-safety: every method may be called from any thread; each holds one mutex for a
// map lookup and a list splice (no I/O).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "daemon/hf_paths.h"
#include "git/tree_reader.h"

namespace mirrord {

inline constexpr size_t kHfCacheMaxEntries = 65536;
inline constexpr size_t kHfCacheMaxBytes = 64u << 20;
inline constexpr std::chrono::milliseconds kHfRevisionTtl{1000};
// Plain files up to this size are kept with their bytes (config.json, tokenizer files).
inline constexpr uint64_t kHfCachedBodyBytes = 64u << 10;

struct HfCachedRevision {
  std::string repo_name;
  std::filesystem::path repo_dir;
  int64_t repo_id = 0;
  std::string commit;
  int64_t commit_time = 0;
  bool pinned = false;
};

struct HfCachedFile {
  TreeEntryInfo entry;              // a file (never a directory)
  std::optional<std::string> body;  // plain files up to kHfCachedBodyBytes
  bool in_store = false;            // LFS: the object was in the blob store
};

struct HfCachedPage {
  std::string body;   // the JSON answer
  uint64_t next = 0;  // cursor of the next page; 0 when this is the last
};

class HfAnswerCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HfAnswerCache(size_t max_entries = kHfCacheMaxEntries,
                         size_t max_bytes = kHfCacheMaxBytes,
                         std::chrono::milliseconds revision_ttl = kHfRevisionTtl);

  uint64_t generation() const;
  // Drops every revision (files and pages stay: they are keyed by commit).
  void Invalidate();
  // Drops every file answer that says its LFS object is in the store: called after objects
  // left the store (garbage collection, quarantine at rest), so that a request finds out
  // afresh (and fetches or answers "missing") instead of trusting the old answer.
  void ForgetStoredObjects();

  std::optional<HfCachedRevision> FindRevision(HfRepoType type, std::string_view repo_id,
                                               std::string_view revision);
  void PutRevision(uint64_t generation, HfRepoType type, std::string_view repo_id,
                   std::string_view revision, HfCachedRevision value);

  std::shared_ptr<const HfCachedFile> FindFile(std::string_view repo_name, std::string_view commit,
                                               std::string_view path);
  void PutFile(std::string_view repo_name, std::string_view commit, std::string_view path,
               HfCachedFile value);

  // `shape` names the kind of answer and every request parameter that shapes it.
  std::shared_ptr<const HfCachedPage> FindPage(std::string_view repo_name, std::string_view commit,
                                               std::string_view shape);
  void PutPage(std::string_view repo_name, std::string_view commit, std::string_view shape,
               HfCachedPage value);

  size_t entries() const;
  size_t bytes() const;

 private:
  using Value = std::variant<HfCachedRevision, std::shared_ptr<const HfCachedFile>,
                             std::shared_ptr<const HfCachedPage>>;
  struct Entry {
    std::string key;
    Value value;
    size_t bytes = 0;
    uint64_t generation = 0;  // revisions: valid while equal to generation_
    Clock::time_point expires = Clock::time_point::max();
  };
  using List = std::list<Entry>;

  // The entry at `key` made most recent, or null (an invalid revision is erased).
  const Entry* Find(const std::string& key);
  void Put(Entry entry);
  // Files and pages: shared, never invalidated.
  template <typename T>
  std::shared_ptr<const T> FindImmutable(const std::string& key);
  template <typename T>
  void PutImmutable(std::string key, size_t bytes, T value);
  void EraseLocked(List::iterator it);

  const size_t max_entries_;
  const size_t max_bytes_;
  const std::chrono::milliseconds revision_ttl_;
  mutable std::mutex mu_;
  uint64_t generation_ = 0;
  size_t bytes_ = 0;
  List lru_;                                                    // most recently used first
  std::unordered_map<std::string_view, List::iterator> index_;  // keys live in lru_
};

}  // namespace mirrord
