#include "git/lfs_pointer_scan.h"

#include <fnmatch.h>
#include <git2.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "git/libgit2_status.h"
#include "git/mirror_staging.h"

namespace mirrord {

// ---------------------------------------------------------------------------------------
// LfsPathFilter

namespace {

// Splits a '/'-separated path or pattern into its non-empty components.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view component = path.substr(0, slash);
    if (!component.empty()) out.push_back(component);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// True when pattern[pi..] matches path[si..k) for some k that ends the whole path or one of
// its leading directories (k >= 1; k < path.size() when `directory_only`).
bool MatchFrom(const std::vector<std::string>& pattern, size_t pi,
               const std::vector<std::string_view>& path, size_t si, bool directory_only) {
  if (pi == pattern.size()) return si >= 1 && (!directory_only || si < path.size());
  if (pattern[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k) {
      if (MatchFrom(pattern, pi + 1, path, k, directory_only)) return true;
    }
    return false;
  }
  if (si == path.size()) return false;
  std::string component(path[si]);
  if (::fnmatch(pattern[pi].c_str(), component.c_str(), 0) != 0) return false;
  return MatchFrom(pattern, pi + 1, path, si + 1, directory_only);
}

}  // namespace

LfsPathFilter::Pattern LfsPathFilter::Compile(std::string_view raw) {
  Pattern pattern;
  if (raw.starts_with("./")) raw.remove_prefix(1);  // "./x" anchors like "/x"
  while (!raw.empty() && raw.back() == '/') {
    raw.remove_suffix(1);
    pattern.directory_only = true;
  }
  if (raw.empty() || raw == ".") {  // "/", "./", ".": everything
    pattern.components = {"**"};
    pattern.directory_only = false;
    return pattern;
  }
  // A '/' left at the start or in the middle anchors the pattern at the root.
  bool anchored = raw.find('/') != std::string_view::npos;
  for (std::string_view component : SplitPath(raw)) {
    if (component == "**" && !pattern.components.empty() && pattern.components.back() == "**") {
      continue;  // "**/**" is "**"
    }
    pattern.components.emplace_back(component);
  }
  if (pattern.components.size() > 1 && pattern.components.back() == "**") {
    pattern.components.pop_back();  // "data/**": everything beneath the directory "data"
    pattern.directory_only = true;
  }
  if (!anchored && pattern.components.front() != "**") {
    pattern.components.insert(pattern.components.begin(), "**");
  }
  return pattern;
}

bool LfsPathFilter::Matches(const Pattern& pattern, const std::vector<std::string_view>& path) {
  return MatchFrom(pattern.components, 0, path, 0, pattern.directory_only);
}

Result<LfsPathFilter> LfsPathFilter::Create(const std::vector<std::string>& include,
                                            const std::vector<std::string>& exclude) {
  LfsPathFilter filter;
  auto compile = [](const std::vector<std::string>& raw, std::vector<Pattern>* out) -> Status {
    for (const std::string& p : raw) {
      if (p.find('\0') != std::string::npos) {
        return InvalidArgument("LFS path pattern contains a NUL byte");
      }
      if (p.empty()) continue;
      out->push_back(Compile(p));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(compile(include, &filter.include_));
  RETURN_IF_ERROR(compile(exclude, &filter.exclude_));
  return filter;
}

bool LfsPathFilter::Allows(std::string_view path) const {
  if (include_.empty() && exclude_.empty()) return true;
  std::vector<std::string_view> components = SplitPath(path);
  if (!include_.empty()) {
    bool included = false;
    for (const Pattern& p : include_) {
      if (Matches(p, components)) {
        included = true;
        break;
      }
    }
    if (!included) return false;
  }
  for (const Pattern& p : exclude_) {
    if (Matches(p, components)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// LfsScanCache

namespace lfs_scan_internal {

using Oid = std::array<unsigned char, GIT_OID_RAWSZ>;

struct OidHash {
  size_t operator()(const Oid& oid) const noexcept {
    size_t h;  // an oid is already a uniform hash
    std::memcpy(&h, oid.data(), sizeof(h));
    return h;
  }
};

struct NamedPointer {
  std::string name;
  LfsPointer pointer;
};

struct NamedTree {
  std::string name;
  Oid oid;
};

// What lies beneath one tree, independent of where the tree sits.
struct TreeSummary {
  std::vector<NamedPointer> pointers;       // pointer blobs directly in the tree
  std::vector<NamedTree> pointer_subtrees;  // subtrees with a pointer somewhere beneath
  std::vector<Oid> other_subtrees;          // the rest: kept only so pruning retains them

  bool HasPointers() const { return !pointers.empty() || !pointer_subtrees.empty(); }
};

// Invariant: every subtree a cached summary names is cached too.
struct CacheData {
  std::unordered_map<Oid, TreeSummary, OidHash> trees;
};

}  // namespace lfs_scan_internal

LfsScanCache::LfsScanCache() : data_(std::make_unique<lfs_scan_internal::CacheData>()) {}
LfsScanCache::~LfsScanCache() = default;
LfsScanCache::LfsScanCache(LfsScanCache&&) noexcept = default;
LfsScanCache& LfsScanCache::operator=(LfsScanCache&&) noexcept = default;

size_t LfsScanCache::size() const { return data_ == nullptr ? 0 : data_->trees.size(); }

void LfsScanCache::Clear() {
  if (data_ != nullptr) data_->trees.clear();
}

// ---------------------------------------------------------------------------------------
// The scan

namespace {

using lfs_scan_internal::CacheData;
using lfs_scan_internal::Oid;
using lfs_scan_internal::OidHash;
using lfs_scan_internal::TreeSummary;

using RevwalkPtr = std::unique_ptr<git_revwalk, Libgit2Deleter<git_revwalk, git_revwalk_free>>;
using OdbObjectPtr =
    std::unique_ptr<git_odb_object, Libgit2Deleter<git_odb_object, git_odb_object_free>>;

// git's own default core.maxTreeDepth: deeper trees cannot be checked out by git anyway.
constexpr int kMaxTreeDepth = 2048;

Oid ToOid(const git_oid& id) {
  Oid out;
  std::memcpy(out.data(), id.id, out.size());
  return out;
}

std::string Hex(const git_oid& id) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), &id);
  return buf;
}

// The pointers one ref needs, deduplicated by pointer.
class RefCollector {
 public:
  RefCollector(const CacheData& cache, const LfsPathFilter& filter, bool many_roots)
      : cache_(cache), filter_(filter), many_roots_(many_roots) {}

  void Add(const LfsPointer& pointer, std::string path) {
    bool allowed = filter_.Allows(path);
    auto [it, inserted] = found_.try_emplace(pointer);
    if (inserted) {
      it->second = FoundLfsPointer{pointer, std::move(path), !allowed};
    } else if (it->second.filtered_out && allowed) {
      it->second.path = std::move(path);
      it->second.filtered_out = false;
    }
  }

  // Adds every pointer beneath the cached tree `root`, with paths under `prefix`: depth
  // first, a tree's own files before its subdirectories, each in git's name order.
  // Iterative: trees may nest thousands of levels.
  Status Expand(const Oid& root, std::string prefix) {
    std::vector<std::pair<Oid, std::string>> stack;
    stack.emplace_back(root, std::move(prefix));
    while (!stack.empty()) {
      auto [tree, tree_prefix] = std::move(stack.back());
      stack.pop_back();
      if (many_roots_) {
        // With many roots (all_history) the same tree at the same path recurs in most
        // commits; it yields the same pointers at the same paths, so expand it once.
        std::string key(reinterpret_cast<const char*>(tree.data()), tree.size());
        key += tree_prefix;
        if (!expanded_.insert(std::move(key)).second) continue;
      }
      auto it = cache_.trees.find(tree);
      if (it == cache_.trees.end()) return Internal("LFS scan cache lost a subtree");
      const TreeSummary& summary = it->second;
      for (const auto& named : summary.pointers) Add(named.pointer, tree_prefix + named.name);
      for (auto sub = summary.pointer_subtrees.rbegin(); sub != summary.pointer_subtrees.rend();
           ++sub) {
        stack.emplace_back(sub->oid, tree_prefix + sub->name + "/");
      }
    }
    return Status::Ok();
  }

  std::vector<FoundLfsPointer> Finish() {
    std::vector<FoundLfsPointer> out;
    out.reserve(found_.size());
    for (auto& [pointer, found] : found_) out.push_back(std::move(found));
    return out;
  }

 private:
  const CacheData& cache_;
  const LfsPathFilter& filter_;
  const bool many_roots_;
  std::map<LfsPointer, FoundLfsPointer> found_;
  std::unordered_set<std::string> expanded_;  // tree oid bytes + prefix
};

}  // namespace

// One scan of one repository. Friend of LfsScanCache.
class LfsPointerScanner {
 public:
  LfsPointerScanner(git_repository* repo, git_odb* odb, CacheData* cache,
                    const LfsPathFilter& filter, bool all_history, LfsScanResult* result)
      : repo_(repo),
        odb_(odb),
        cache_(cache),
        filter_(filter),
        all_history_(all_history),
        result_(result) {}

  static CacheData* DataOf(LfsScanCache& cache) {
    if (cache.data_ == nullptr) cache.data_ = std::make_unique<CacheData>();
    return cache.data_.get();
  }

  // Scans one ref; on success result_->by_ref[name] is set.
  Status ScanRef(const std::string& name, const std::string& hex) {
    auto context = [&name](std::string_view what) {
      return "LFS scan of " + name + ": " + std::string(what);
    };
    git_oid id;
    if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstrn(&id, hex.data(), hex.size()) < 0) {
      return InvalidArgument(context("malformed object id '" + hex + "'"));
    }
    git_object* raw = nullptr;
    int rc = git_object_lookup(&raw, repo_, &id, GIT_OBJECT_ANY);
    ObjectPtr object(raw);
    if (rc < 0) return Libgit2Status(rc, context("look up " + hex));
    // Peel annotated tags (possibly tags of tags) to what they finally name.
    while (git_object_type(object.get()) == GIT_OBJECT_TAG) {
      git_object* target = nullptr;
      rc = git_tag_target(&target, reinterpret_cast<git_tag*>(object.get()));
      if (rc < 0) {
        return Libgit2Status(rc, context("peel tag " + Hex(*git_object_id(object.get()))));
      }
      object.reset(target);
    }
    RefCollector collector(*cache_, filter_, all_history_);
    const git_oid& peeled = *git_object_id(object.get());
    switch (git_object_type(object.get())) {
      case GIT_OBJECT_COMMIT:
        if (all_history_) {
          RETURN_IF_ERROR(ScanHistory(peeled, &collector, context));
        } else {
          const git_oid* tree = git_commit_tree_id(reinterpret_cast<git_commit*>(object.get()));
          RETURN_IF_ERROR(ScanRootTree(*tree, &collector));
        }
        break;
      case GIT_OBJECT_TREE:
        RETURN_IF_ERROR(ScanRootTree(peeled, &collector));
        break;
      case GIT_OBJECT_BLOB: {
        // A tag of a blob: no path, but a client fetching the tag gets the blob.
        ASSIGN_OR_RETURN(std::optional<LfsPointer> pointer, ExamineBlob(peeled));
        if (pointer) collector.Add(*pointer, "");
        break;
      }
      default:
        return DataLoss(context(hex + " is not a commit, tag, tree or blob"));
    }
    result_->by_ref[name] = collector.Finish();
    return Status::Ok();
  }

  // Drops cached trees not reachable from the roots this scan used.
  void Prune() {
    std::unordered_set<Oid, OidHash> live;
    std::vector<Oid> stack = roots_;
    while (!stack.empty()) {
      Oid oid = stack.back();
      stack.pop_back();
      if (!live.insert(oid).second) continue;
      auto it = cache_->trees.find(oid);
      if (it == cache_->trees.end()) continue;
      for (const auto& named : it->second.pointer_subtrees) stack.push_back(named.oid);
      for (const Oid& other : it->second.other_subtrees) stack.push_back(other);
    }
    std::erase_if(cache_->trees,
                  [&live](const auto& entry) { return !live.contains(entry.first); });
  }

 private:
  template <typename Context>
  Status ScanHistory(const git_oid& tip, RefCollector* collector, const Context& context) {
    git_revwalk* raw = nullptr;
    int rc = git_revwalk_new(&raw, repo_);
    RevwalkPtr walk(raw);
    if (rc < 0) return Libgit2Status(rc, context("start history walk"));
    // Newest first, so a pointer's reported path is the most recent one.
    rc = git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    if (rc < 0) return Libgit2Status(rc, context("sort history walk"));
    rc = git_revwalk_push(walk.get(), &tip);
    if (rc < 0) return Libgit2Status(rc, context("walk history from " + Hex(tip)));
    git_oid commit_id;
    while ((rc = git_revwalk_next(&commit_id, walk.get())) == 0) {
      ++result_->commits_walked;
      git_commit* commit_raw = nullptr;
      rc = git_commit_lookup(&commit_raw, repo_, &commit_id);
      ObjectPtr commit(reinterpret_cast<git_object*>(commit_raw));
      if (rc < 0) return Libgit2Status(rc, context("read commit " + Hex(commit_id)));
      RETURN_IF_ERROR(ScanRootTree(*git_commit_tree_id(commit_raw), collector));
    }
    if (rc != GIT_ITEROVER) return Libgit2Status(rc, context("walk history from " + Hex(tip)));
    return Status::Ok();
  }

  Status ScanRootTree(const git_oid& tree, RefCollector* collector) {
    Oid key = ToOid(tree);
    RETURN_IF_ERROR(Summarize(key, tree));
    roots_.push_back(key);
    return collector->Expand(key, "");
  }

  // Reads tree object `id`; DataLoss when it is not a tree.
  Result<ObjectPtr> LoadTree(const git_oid& id) {
    git_object* raw = nullptr;
    int rc = git_object_lookup(&raw, repo_, &id, GIT_OBJECT_ANY);
    ObjectPtr object(raw);
    if (rc < 0) return Libgit2Status(rc, "LFS scan: read tree " + Hex(id));
    if (git_object_type(object.get()) != GIT_OBJECT_TREE) {
      return DataLoss("LFS scan: " + Hex(id) + " is named as a tree but is a " +
                      git_object_type2string(git_object_type(object.get())));
    }
    ++result_->trees_walked;
    return object;
  }

  // On success `root` and every tree beneath it are in the cache: those already there are
  // not read again; the others are read and added, each once its subtrees are complete (so
  // a failure leaves only complete entries). Iterative: trees may nest thousands of levels.
  Status Summarize(const Oid& root_key, const git_oid& root) {
    if (cache_->trees.contains(root_key)) return Status::Ok();
    struct Frame {
      Oid key;
      ObjectPtr tree;
      size_t next = 0;  // the entry to look at next
      TreeSummary summary;
    };
    std::vector<Frame> stack;
    ASSIGN_OR_RETURN(ObjectPtr root_tree, LoadTree(root));
    stack.push_back({root_key, std::move(root_tree), 0, {}});
    while (!stack.empty()) {
      Frame& frame = stack.back();
      const git_tree* tree = reinterpret_cast<const git_tree*>(frame.tree.get());
      if (frame.next == git_tree_entrycount(tree)) {
        cache_->trees.emplace(frame.key, std::move(frame.summary));
        stack.pop_back();
        continue;
      }
      const git_tree_entry* entry = git_tree_entry_byindex(tree, frame.next);
      const git_oid& entry_id = *git_tree_entry_id(entry);
      switch (git_tree_entry_filemode(entry)) {
        case GIT_FILEMODE_TREE: {
          Oid child = ToOid(entry_id);
          auto it = cache_->trees.find(child);
          if (it == cache_->trees.end()) {
            // Descend; this entry is looked at again once the child is cached.
            if (stack.size() >= static_cast<size_t>(kMaxTreeDepth)) {
              return ResourceExhausted("LFS scan: tree " + Hex(root) + " nests trees deeper than " +
                                       std::to_string(kMaxTreeDepth) + " levels");
            }
            ASSIGN_OR_RETURN(ObjectPtr child_tree, LoadTree(entry_id));
            stack.push_back({child, std::move(child_tree), 0, {}});  // invalidates `frame`
            continue;
          }
          if (it->second.HasPointers()) {
            frame.summary.pointer_subtrees.push_back({git_tree_entry_name(entry), child});
          } else {
            frame.summary.other_subtrees.push_back(child);
          }
          break;
        }
        case GIT_FILEMODE_BLOB:
        case GIT_FILEMODE_BLOB_EXECUTABLE: {
          ASSIGN_OR_RETURN(std::optional<LfsPointer> pointer, ExamineBlob(entry_id));
          if (pointer) frame.summary.pointers.push_back({git_tree_entry_name(entry), *pointer});
          break;
        }
        default:  // symlinks (never smudged), submodules (another repository's commits)
          break;
      }
      ++frame.next;
    }
    return Status::Ok();
  }

  // Whether blob `id` is a pointer: its size from the object header first, its content only
  // when small enough to be one. Each distinct blob is examined once per scan.
  Result<std::optional<LfsPointer>> ExamineBlob(const git_oid& id) {
    Oid key = ToOid(id);
    if (auto it = examined_.find(key); it != examined_.end()) return it->second;
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    int rc = git_odb_read_header(&size, &type, odb_, &id);
    if (rc < 0) return Libgit2Status(rc, "LFS scan: read header of blob " + Hex(id));
    ++result_->blobs_examined;
    if (type != GIT_OBJECT_BLOB) {
      return DataLoss("LFS scan: " + Hex(id) + " is named as a blob but is a " +
                      git_object_type2string(type));
    }
    std::optional<LfsPointer> pointer;
    if (size < kMaxLfsPointerSize) {
      git_odb_object* raw = nullptr;
      rc = git_odb_read(&raw, odb_, &id);
      OdbObjectPtr object(raw);
      if (rc < 0) return Libgit2Status(rc, "LFS scan: read blob " + Hex(id));
      ++result_->blobs_read;
      pointer = ParseLfsPointer(
          std::string_view(static_cast<const char*>(git_odb_object_data(object.get())),
                           git_odb_object_size(object.get())));
    }
    examined_.emplace(key, pointer);
    return pointer;
  }

  git_repository* repo_;
  git_odb* odb_;
  CacheData* cache_;
  const LfsPathFilter& filter_;
  const bool all_history_;
  LfsScanResult* result_;
  std::vector<Oid> roots_;                                                // for Prune
  std::unordered_map<Oid, std::optional<LfsPointer>, OidHash> examined_;  // this scan only
};

Result<LfsScanResult> ScanLfsPointers(const std::filesystem::path& bare_repo_dir,
                                      const std::map<std::string, std::string>& tips,
                                      const LfsScanOptions& options, LfsScanCache* cache) {
  ASSIGN_OR_RETURN(LfsPathFilter filter, LfsPathFilter::Create(options.include, options.exclude));
  ASSIGN_OR_RETURN(RepositoryPtr repo, OpenBareRepository(bare_repo_dir.string()));
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, repo.get());
  OdbPtr odb(raw_odb);
  if (rc < 0) {
    return Libgit2Status(rc, "LFS scan: open object database of " + bare_repo_dir.string());
  }
  // The refs about to be published name staged objects: read those too.
  RETURN_IF_ERROR(AddStagedObjects(odb.get(), bare_repo_dir));

  CacheData scratch;  // without a caller's cache, memoize within this scan only
  CacheData* data = cache != nullptr ? LfsPointerScanner::DataOf(*cache) : &scratch;
  LfsScanResult result;
  LfsPointerScanner scanner(repo.get(), odb.get(), data, filter, options.all_history, &result);
  for (const auto& [name, oid] : tips) RETURN_IF_ERROR(scanner.ScanRef(name, oid));
  if (cache != nullptr) scanner.Prune();

  std::map<LfsPointer, bool> wanted;  // pointer -> allowed somewhere
  for (const auto& [name, found] : result.by_ref) {
    for (const FoundLfsPointer& f : found) {
      bool& w = wanted[f.pointer];
      w = w || !f.filtered_out;
    }
  }
  for (const auto& [pointer, is_wanted] : wanted) {
    (is_wanted ? result.wanted : result.filtered).push_back(pointer);
  }
  return result;
}

}  // namespace mirrord
