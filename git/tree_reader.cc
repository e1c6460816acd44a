#include "git/tree_reader.h"

#include <git2.h>

#include <algorithm>
#include <utility>

#include "git/ref_publisher.h"

namespace mirrord {
namespace {

using TreePtr = std::unique_ptr<git_tree, Libgit2Deleter<git_tree, git_tree_free>>;
using TreeEntryPtr =
    std::unique_ptr<git_tree_entry, Libgit2Deleter<git_tree_entry, git_tree_entry_free>>;
using CommitPtr = std::unique_ptr<git_commit, Libgit2Deleter<git_commit, git_commit_free>>;
using BlobPtr = std::unique_ptr<git_blob, Libgit2Deleter<git_blob, git_blob_free>>;

bool IsFullHexId(std::string_view s) {
  return s.size() == GIT_OID_HEXSZ && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string OidHex(const git_oid* oid) {
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, oid);
  return hex;
}

Result<git_oid> ParseOid(std::string_view hex) {
  if (!IsFullHexId(hex)) return NotFound("not an object id: " + std::string(hex));
  git_oid oid;
  if (git_oid_fromstrn(&oid, hex.data(), hex.size()) != 0) {
    return NotFound("not an object id: " + std::string(hex));
  }
  return oid;
}

Result<CommitPtr> LookupCommit(git_repository* repo, std::string_view hex) {
  ASSIGN_OR_RETURN(git_oid oid, ParseOid(hex));
  git_object* raw = nullptr;
  int rc = git_object_lookup(&raw, repo, &oid, GIT_OBJECT_ANY);
  if (rc == GIT_ENOTFOUND) return NotFound("no object " + std::string(hex));
  if (rc < 0) return Libgit2Status(rc, "lookup " + std::string(hex));
  ObjectPtr obj(raw);
  git_object* peeled = nullptr;
  rc = git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT);
  if (rc < 0) return NotFound(std::string(hex) + " does not name a commit");
  return CommitPtr(reinterpret_cast<git_commit*>(peeled));
}

Result<TreePtr> CommitTree(git_repository* repo, std::string_view commit_hex) {
  ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(repo, commit_hex));
  git_tree* tree = nullptr;
  int rc = git_commit_tree(&tree, commit.get());
  if (rc < 0) return Libgit2Status(rc, "tree of " + std::string(commit_hex));
  return TreePtr(tree);
}

// The entry at `path` (checked with IsValidTreePath) below `tree`; NotFound when absent.
Result<TreeEntryPtr> EntryByPath(git_tree* tree, std::string_view path) {
  if (!IsValidTreePath(path)) return InvalidArgument("invalid path");
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, tree, std::string(path).c_str());
  if (rc == GIT_ENOTFOUND) return NotFound("no entry " + std::string(path));
  if (rc < 0) return Libgit2Status(rc, "entry " + std::string(path));
  return TreeEntryPtr(raw);
}

// Fills the blob facts of `info` (size, LFS pointer) from the object database.
Status DescribeBlob(git_repository* repo, const git_oid* oid, TreeEntryInfo* info) {
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, repo);
  if (rc < 0) return Libgit2Status(rc, "object database");
  OdbPtr odb(raw_odb);
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  rc = git_odb_read_header(&size, &type, odb.get(), oid);
  if (rc < 0) return Libgit2Status(rc, "blob header " + info->path);
  info->blob_size = size;
  if (size < kMaxLfsPointerSize) {
    git_blob* blob = nullptr;
    rc = git_blob_lookup(&blob, repo, oid);
    if (rc < 0) return Libgit2Status(rc, "blob " + info->path);
    BlobPtr owned(blob);
    std::string_view text(static_cast<const char*>(git_blob_rawcontent(blob)),
                          static_cast<size_t>(git_blob_rawsize(blob)));
    info->lfs = ParseLfsPointer(text);
  }
  return Status::Ok();
}

// The info for one tree entry at `path`; nullopt for submodules.
Result<std::optional<TreeEntryInfo>> Describe(git_repository* repo, const git_tree_entry* entry,
                                              std::string path) {
  TreeEntryInfo info;
  info.path = std::move(path);
  info.oid = OidHex(git_tree_entry_id(entry));
  switch (git_tree_entry_type(entry)) {
    case GIT_OBJECT_TREE:
      info.type = TreeEntryInfo::Type::kDirectory;
      return std::optional<TreeEntryInfo>(std::move(info));
    case GIT_OBJECT_BLOB:
      info.type = TreeEntryInfo::Type::kFile;
      RETURN_IF_ERROR(DescribeBlob(repo, git_tree_entry_id(entry), &info));
      return std::optional<TreeEntryInfo>(std::move(info));
    default:  // submodule (commit) entries have no content here
      return std::optional<TreeEntryInfo>();
  }
}

}  // namespace

bool IsValidTreePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

Result<PublishedTreeReader> PublishedTreeReader::Open(const std::filesystem::path& dir) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  ASSIGN_OR_RETURN(RepositoryPtr repo, OpenBareRepository(dir.string()));
  return PublishedTreeReader(std::move(repo), dir);
}

Result<ResolvedCommit> PublishedTreeReader::ResolveRevision(std::string_view revision) {
  if (revision.empty()) return NotFound("empty revision");
  ASSIGN_OR_RETURN(std::vector<PublishedRef> refs, ReadPublishedRefs(dir_));
  auto target_of = [](const PublishedRef& r) { return r.peeled.empty() ? r.oid : r.peeled; };
  auto find = [&refs](std::string_view name) -> const PublishedRef* {
    auto it = std::find_if(refs.begin(), refs.end(),
                           [name](const PublishedRef& r) { return r.name == name; });
    return it == refs.end() ? nullptr : &*it;
  };

  std::string commit_hex;
  const PublishedRef* ref = nullptr;
  if (revision == "HEAD") {
    ASSIGN_OR_RETURN(std::string head, ReadHeadTarget(dir_));
    if (!head.empty()) ref = find(head);
  } else if (revision.starts_with("refs/")) {
    ref = find(revision);
  } else {
    ref = find("refs/heads/" + std::string(revision));
    if (ref == nullptr) ref = find("refs/tags/" + std::string(revision));
  }
  if (ref != nullptr) {
    commit_hex = target_of(*ref);
  } else if (IsFullHexId(revision)) {
    // A commit id: published only if a published ref reaches it (git clients could not
    // fetch it otherwise; staged objects stay invisible).
    ASSIGN_OR_RETURN(git_oid wanted, ParseOid(revision));
    std::vector<git_oid> tips;
    for (const PublishedRef& r : refs) {
      const std::string hex = target_of(r);
      if (hex == revision) {
        commit_hex = hex;
        break;
      }
      Result<CommitPtr> tip = LookupCommit(repo_.get(), hex);
      if (tip.ok()) tips.push_back(*git_commit_id(tip->get()));
    }
    if (commit_hex.empty() && !tips.empty()) {
      git_object* raw = nullptr;
      if (git_object_lookup(&raw, repo_.get(), &wanted, GIT_OBJECT_COMMIT) == 0) {
        ObjectPtr owned(raw);
        int rc = git_graph_reachable_from_any(repo_.get(), &wanted, tips.data(), tips.size());
        if (rc < 0) return Libgit2Status(rc, "reachability of " + std::string(revision));
        if (rc == 1) commit_hex = std::string(revision);
      }
    }
  }
  if (commit_hex.empty()) return NotFound("revision not found: " + std::string(revision));
  ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(repo_.get(), commit_hex));
  return ResolvedCommit{OidHex(git_commit_id(commit.get())),
                        static_cast<int64_t>(git_commit_time(commit.get()))};
}

Result<TreeEntryInfo> PublishedTreeReader::Stat(std::string_view commit, std::string_view path) {
  ASSIGN_OR_RETURN(TreePtr tree, CommitTree(repo_.get(), commit));
  if (path.empty()) {
    TreeEntryInfo root;
    root.type = TreeEntryInfo::Type::kDirectory;
    root.oid = OidHex(git_tree_id(tree.get()));
    return root;
  }
  ASSIGN_OR_RETURN(TreeEntryPtr entry, EntryByPath(tree.get(), path));
  ASSIGN_OR_RETURN(std::optional<TreeEntryInfo> info,
                   Describe(repo_.get(), entry.get(), std::string(path)));
  if (!info) return NotFound("no file entry " + std::string(path));
  return std::move(*info);
}

Result<std::vector<TreeEntryInfo>> PublishedTreeReader::List(std::string_view commit,
                                                             std::string_view path, bool recursive,
                                                             uint64_t offset, uint64_t limit,
                                                             bool* more) {
  *more = false;
  ASSIGN_OR_RETURN(TreePtr root, CommitTree(repo_.get(), commit));
  TreePtr start;
  std::string prefix;
  if (path.empty()) {
    start = std::move(root);
  } else {
    ASSIGN_OR_RETURN(TreeEntryPtr entry, EntryByPath(root.get(), path));
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      return NotFound(std::string(path) + " is not a directory");
    }
    git_tree* sub = nullptr;
    int rc = git_tree_lookup(&sub, repo_.get(), git_tree_entry_id(entry.get()));
    if (rc < 0) return Libgit2Status(rc, "tree " + std::string(path));
    start.reset(sub);
    prefix = std::string(path) + "/";
  }

  // Depth-first with an explicit stack of (tree, prefix, next index): memory bounded by the
  // tree's depth, work by offset + limit.
  struct Frame {
    TreePtr tree;
    std::string prefix;
    size_t next = 0;
  };
  std::vector<Frame> stack;
  stack.push_back(Frame{std::move(start), std::move(prefix), 0});
  std::vector<TreeEntryInfo> out;
  uint64_t index = 0;
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next >= git_tree_entrycount(top.tree.get())) {
      stack.pop_back();
      continue;
    }
    const git_tree_entry* entry = git_tree_entry_byindex(top.tree.get(), top.next++);
    const git_object_t type = git_tree_entry_type(entry);
    if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB) continue;
    std::string entry_path = top.prefix + git_tree_entry_name(entry);
    if (index >= offset) {
      if (out.size() == limit) {
        *more = true;
        break;
      }
      ASSIGN_OR_RETURN(std::optional<TreeEntryInfo> info, Describe(repo_.get(), entry, entry_path));
      if (info) out.push_back(std::move(*info));
    }
    ++index;
    if (recursive && type == GIT_OBJECT_TREE) {
      git_tree* sub = nullptr;
      int rc = git_tree_lookup(&sub, repo_.get(), git_tree_entry_id(entry));
      if (rc < 0) return Libgit2Status(rc, "tree " + entry_path);
      stack.push_back(Frame{TreePtr(sub), entry_path + "/", 0});  // `top` is invalid now
    }
  }
  return out;
}

Result<std::string> PublishedTreeReader::ReadBlob(std::string_view oid_hex, uint64_t max_size) {
  ASSIGN_OR_RETURN(git_oid oid, ParseOid(oid_hex));
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, repo_.get(), &oid);
  if (rc == GIT_ENOTFOUND) return NotFound("no blob " + std::string(oid_hex));
  if (rc < 0) return Libgit2Status(rc, "blob " + std::string(oid_hex));
  BlobPtr blob(raw);
  const uint64_t size = static_cast<uint64_t>(git_blob_rawsize(blob.get()));
  if (size > max_size) {
    return ResourceExhausted("blob " + std::string(oid_hex) + " is " + std::to_string(size) +
                             " bytes, over the limit of " + std::to_string(max_size));
  }
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())), size);
}

}  // namespace mirrord
