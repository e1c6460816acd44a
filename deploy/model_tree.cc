#include "deploy/model_tree.h"

#include <git2.h>

#include <algorithm>

#include "git/libgit2_status.h"

namespace mirrord {
namespace {

using BlobPtr = std::unique_ptr<git_blob, Libgit2Deleter<git_blob, git_blob_free>>;

struct WalkState {
  git_repository* repo = nullptr;
  const LfsPathFilter* filter = nullptr;
  std::vector<ModelFile>* files = nullptr;
  uint64_t small_bytes = 0;
  Status error;
};

int Visit(const char* root, const git_tree_entry* entry, void* payload) {
  auto* st = static_cast<WalkState*>(payload);
  git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE &&
      mode != GIT_FILEMODE_LINK) {
    return 0;  // trees are walked into; submodules are skipped
  }
  std::string path = std::string(root) + git_tree_entry_name(entry);
  if (!st->filter->Allows(path)) return 0;
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, st->repo, git_tree_entry_id(entry));
  if (rc < 0) {
    st->error = Libgit2Status(rc, "read blob " + path);
    return -1;
  }
  BlobPtr blob(raw);
  std::string_view content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                           static_cast<size_t>(git_blob_rawsize(blob.get())));
  ModelFile f;
  f.path = std::move(path);
  if (mode == GIT_FILEMODE_LINK) {
    f.kind = ModelFile::Kind::kSymlink;
    f.mode = 0777;
    f.content = std::string(content);
  } else {
    f.mode = mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
    std::optional<LfsPointer> pointer;
    if (content.size() < kMaxLfsPointerSize) pointer = ParseLfsPointer(content);
    if (pointer) {
      f.kind = ModelFile::Kind::kLfs;
      f.pointer = *pointer;
    } else {
      st->small_bytes += content.size();
      if (st->small_bytes > kMaxSmallFilesBytes) {
        st->error = ResourceExhausted("the revision's non-LFS files exceed " +
                                      std::to_string(kMaxSmallFilesBytes >> 20) + " MiB");
        return -1;
      }
      f.kind = ModelFile::Kind::kSmall;
      f.content = std::string(content);
    }
  }
  st->files->push_back(std::move(f));
  return 0;
}

}  // namespace

Result<ModelTree> ReadModelTree(const std::filesystem::path& mirror_dir, std::string_view rev,
                                const LfsPathFilter& filter) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  git_repository* raw_repo = nullptr;
  int rc = git_repository_open_bare(&raw_repo, mirror_dir.c_str());
  if (rc < 0) return Libgit2Status(rc, "open mirror " + mirror_dir.string());
  RepositoryPtr repo(raw_repo);
  git_object* raw_obj = nullptr;
  rc = git_revparse_single(&raw_obj, repo.get(), std::string(rev).c_str());
  if (rc < 0) return Libgit2Status(rc, "resolve " + std::string(rev));
  ObjectPtr obj(raw_obj);
  git_object* raw_commit = nullptr;
  rc = git_object_peel(&raw_commit, obj.get(), GIT_OBJECT_COMMIT);
  if (rc < 0) return Libgit2Status(rc, std::string(rev) + " is not a commit");
  ObjectPtr commit(raw_commit);
  auto* c = reinterpret_cast<git_commit*>(commit.get());
  git_object* raw_tree = nullptr;
  rc = git_object_peel(&raw_tree, commit.get(), GIT_OBJECT_TREE);
  if (rc < 0) return Libgit2Status(rc, "tree of " + std::string(rev));
  ObjectPtr tree(raw_tree);

  ModelTree out;
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
  out.commit = hex;
  out.commit_time = static_cast<int64_t>(git_commit_time(c));
  WalkState st{repo.get(), &filter, &out.files, 0, Status::Ok()};
  rc = git_tree_walk(reinterpret_cast<git_tree*>(tree.get()), GIT_TREEWALK_PRE, Visit, &st);
  if (!st.error.ok()) return st.error;
  if (rc < 0) return Libgit2Status(rc, "walk the tree of " + std::string(rev));
  std::sort(out.files.begin(), out.files.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace mirrord
