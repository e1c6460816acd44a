#include "git/ref_publisher.h"

#include <fcntl.h>
#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <system_error>
#include <utility>

#include "common/file_util.h"
#include "common/log.h"
#include "git/libgit2_status.h"
#include "git/mirror_repository.h"
#include "git/mirror_staging.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPackedRefsHeader = "# pack-refs with: peeled fully-peeled sorted \n";

bool IsPrivate(std::string_view name) {
  return name.starts_with(kMirrordRefPrefix) || name == "refs/mirrord";
}

bool IsHexOid(std::string_view s) {
  if (s.size() != GIT_OID_HEXSZ) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Parses a packed-refs file; peel lines attach to the entry before them.
Result<std::vector<PublishedRef>> ParsePackedRefs(std::string_view text, const std::string& path) {
  std::vector<PublishedRef> out;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&] { return DataLoss(path + ": malformed line " + std::to_string(line_no)); };
    if (line.front() == '^') {
      std::string_view peeled = line.substr(1);
      if (out.empty() || !IsHexOid(peeled)) return bad();
      out.back().peeled = std::string(peeled);
      continue;
    }
    if (line.size() < GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ') return bad();
    std::string_view oid = line.substr(0, GIT_OID_HEXSZ);
    if (!IsHexOid(oid)) return bad();
    out.push_back({std::string(line.substr(GIT_OID_HEXSZ + 1)), std::string(oid), ""});
  }
  return out;
}

Result<std::vector<PublishedRef>> ReadPackedRefs(const fs::path& dir) {
  fs::path path = dir / "packed-refs";
  auto text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::vector<PublishedRef>{};
    return text.status();
  }
  return ParsePackedRefs(*text, path.string());
}

// Loose ref files outside refs/mirrord/ (relative names "refs/..."), skipping lock files.
Result<std::vector<fs::path>> LoosePublicRefFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  fs::path refs = dir / "refs";
  std::error_code ec;
  if (!fs::is_directory(refs, ec)) return NotFound(refs.string() + " is not a directory");
  fs::path private_dir = refs / "mirrord";
  for (auto it = fs::recursive_directory_iterator(refs, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path() == private_dir) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && !it->path().filename().string().ends_with(".lock")) {
      files.push_back(it->path());
    }
  }
  if (ec) return ErrnoStatus(ec.value(), "walk " + refs.string());
  return files;
}

std::string RefNameOf(const fs::path& dir, const fs::path& file) {
  return file.lexically_relative(dir).generic_string();
}

// `path`.lock, created exclusively (git's lock protocol) and filled durably; removed again
// by its destructor unless committed.
class LockedFile {
 public:
  static Result<LockedFile> Create(const fs::path& path, std::string_view contents) {
    LockedFile f;
    f.path_ = path;
    f.lock_ = path;
    f.lock_ += ".lock";
    UniqueFd fd(::open(f.lock_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      int err = errno;
      f.lock_.clear();  // not ours: never remove it
      if (err == EEXIST) {
        return Unavailable(path.string() +
                           ".lock exists: another process is updating refs, or a crash left it "
                           "behind (removed by crash recovery at startup)");
      }
      return ErrnoStatus(err, "create " + path.string() + ".lock");
    }
    if (Status s = WriteAll(fd.get(), contents); !s.ok()) return s.WithContext(f.lock_.string());
    if (::fdatasync(fd.get()) != 0) return ErrnoStatus(errno, "fdatasync " + f.lock_.string());
    if (::close(fd.release()) != 0) return ErrnoStatus(errno, "close " + f.lock_.string());
    return f;
  }
  LockedFile(LockedFile&& o) noexcept
      : path_(std::move(o.path_)), lock_(std::move(o.lock_)), renamed_(o.renamed_) {
    o.lock_.clear();
  }
  LockedFile& operator=(LockedFile&&) = delete;
  ~LockedFile() {
    if (!lock_.empty()) ::unlink(lock_.c_str());
  }

  // Renames the lock onto the file and fsyncs the directory.
  Status Commit() {
    if (::rename(lock_.c_str(), path_.c_str()) != 0) {
      return ErrnoStatus(errno, "rename " + lock_.string() + " to " + path_.string());
    }
    lock_.clear();
    renamed_ = true;
    return FsyncDirectory(path_.parent_path());
  }
  // Whether Commit's rename happened (the new contents are in place, even if its directory
  // fsync then failed).
  bool renamed() const { return renamed_; }

 private:
  LockedFile() = default;
  fs::path path_;
  fs::path lock_;
  bool renamed_ = false;
};

Status CommitThroughLock(const fs::path& path, std::string_view contents) {
  ASSIGN_OR_RETURN(LockedFile lock, LockedFile::Create(path, contents));
  return lock.Commit();
}

// Verifies that `ref`'s objects exist and returns its fully peeled oid (empty unless a tag).
Result<std::string> VerifyAndPeel(git_repository* repo, git_odb* odb, const std::string& name,
                                  const std::string& oid_hex) {
  git_oid oid;
  if (git_oid_fromstrn(&oid, oid_hex.data(), oid_hex.size()) < 0) {
    return InvalidArgument("ref " + name + ": malformed object id " + oid_hex);
  }
  auto missing = [&](const std::string& what) {
    return FailedPrecondition("refusing to publish " + name + ": " + what +
                              " is missing from the object database");
  };
  git_object* raw = nullptr;
  int rc = git_object_lookup(&raw, repo, &oid, GIT_OBJECT_ANY);
  ObjectPtr object(raw);
  if (rc == GIT_ENOTFOUND) return missing("object " + oid_hex);
  if (rc < 0) return Libgit2Status(rc, "look up " + oid_hex + " for " + name);
  std::string peeled;
  git_object* target = object.get();
  ObjectPtr peeled_object;
  if (git_object_type(target) == GIT_OBJECT_TAG) {
    raw = nullptr;
    rc = git_tag_peel(&raw, reinterpret_cast<git_tag*>(target));
    peeled_object.reset(raw);
    if (rc == GIT_ENOTFOUND) return missing("the object tag " + oid_hex + " points at");
    if (rc < 0) return Libgit2Status(rc, "peel tag " + oid_hex + " of " + name);
    target = peeled_object.get();
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, git_object_id(target));
    peeled = hex;
  }
  if (git_object_type(target) == GIT_OBJECT_COMMIT) {
    const git_oid* tree = git_commit_tree_id(reinterpret_cast<git_commit*>(target));
    if (!git_odb_exists(odb, tree)) {
      char hex[GIT_OID_HEXSZ + 1];
      git_oid_tostr(hex, sizeof hex, tree);
      return missing(std::string("tree ") + hex);
    }
  }
  return peeled;
}

Status ValidateRefs(const std::vector<PublishedRef>& refs, std::string_view head) {
  std::vector<std::string_view> names;
  names.reserve(refs.size());
  for (const PublishedRef& r : refs) {
    int valid = 0;
    if (!r.name.starts_with("refs/") || git_reference_name_is_valid(&valid, r.name.c_str()) < 0 ||
        !valid) {
      return InvalidArgument("invalid ref name \"" + r.name + "\"");
    }
    if (IsPrivate(r.name)) return InvalidArgument("ref " + r.name + " is in mirrord's namespace");
    if (!IsHexOid(r.oid)) return InvalidArgument("ref " + r.name + ": malformed oid " + r.oid);
    if (!r.peeled.empty() && !IsHexOid(r.peeled)) {
      return InvalidArgument("ref " + r.name + ": malformed peeled oid " + r.peeled);
    }
    names.push_back(r.name);
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 1; i < names.size(); ++i) {
    if (names[i] == names[i - 1]) return InvalidArgument("duplicate ref " + std::string(names[i]));
    // "refs/heads/a" and "refs/heads/a/b" cannot coexist in git.
    if (names[i].starts_with(names[i - 1]) && names[i][names[i - 1].size()] == '/') {
      return InvalidArgument("refs " + std::string(names[i - 1]) + " and " + std::string(names[i]) +
                             " conflict");
    }
  }
  if (!head.empty() && !std::binary_search(names.begin(), names.end(), head)) {
    return InvalidArgument("HEAD target " + std::string(head) + " is not among the refs");
  }
  return Status::Ok();
}

std::string RenderPackedRefs(std::vector<PublishedRef> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const PublishedRef& a, const PublishedRef& b) { return a.name < b.name; });
  std::string out(kPackedRefsHeader);
  out.reserve(out.size() + entries.size() * 100);
  for (const PublishedRef& e : entries) {
    out += e.oid;
    out += ' ';
    out += e.name;
    out += '\n';
    if (!e.peeled.empty()) {
      out += '^';
      out += e.peeled;
      out += '\n';
    }
  }
  return out;
}

// Removes loose refs outside refs/mirrord/ and then the empty directories they leave (except
// refs/heads and refs/tags, which git expects).
Status RemoveLoosePublicRefs(const fs::path& dir) {
  ASSIGN_OR_RETURN(std::vector<fs::path> files, LoosePublicRefFiles(dir));
  for (const fs::path& f : files) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus(errno, "remove " + f.string());
  }
  if (files.empty()) return Status::Ok();
  fs::path refs = dir / "refs";
  for (const fs::path& f : files) {
    for (fs::path d = f.parent_path(); d != refs && d != refs / "heads" && d != refs / "tags";
         d = d.parent_path()) {
      std::error_code ec;
      if (!fs::remove(d, ec)) break;  // not empty (or gone): stop climbing
    }
  }
  return FsyncDirectory(refs);
}

}  // namespace

Result<std::vector<PublishedRef>> ReadPublishedRefs(const std::filesystem::path& dir) {
  // packed-refs first: a loose ref read afterwards is at least as new as the packed set.
  ASSIGN_OR_RETURN(std::vector<PublishedRef> packed, ReadPackedRefs(dir));
  std::map<std::string, PublishedRef> by_name;
  for (PublishedRef& r : packed) {
    if (!IsPrivate(r.name)) by_name[r.name] = std::move(r);
  }
  ASSIGN_OR_RETURN(std::vector<fs::path> loose, LoosePublicRefFiles(dir));
  for (const fs::path& f : loose) {
    auto text = ReadFileToString(f);
    if (!text.ok()) {
      if (text.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
      return text.status();
    }
    std::string_view oid(*text);
    while (!oid.empty() && (oid.back() == '\n' || oid.back() == '\r')) oid.remove_suffix(1);
    if (!IsHexOid(oid)) continue;  // a symbolic ref: not a published object
    std::string name = RefNameOf(dir, f);
    by_name[name] = PublishedRef{name, std::string(oid), ""};
  }
  std::vector<PublishedRef> out;
  out.reserve(by_name.size());
  for (auto& [name, ref] : by_name) out.push_back(std::move(ref));
  return out;
}

Result<std::string> ReadHeadTarget(const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir / "HEAD"));
  std::string_view v(text);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.remove_suffix(1);
  if (!v.starts_with("ref: ")) return std::string();
  return std::string(v.substr(5));
}

Result<RefUpdateSummary> PublishRefs(const std::filesystem::path& dir,
                                     const std::vector<PublishedRef>& refs, std::string_view head,
                                     const std::function<Status()>& fence) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  RETURN_IF_ERROR(ValidateRefs(refs, head));
  ASSIGN_OR_RETURN(RepositoryPtr repo, OpenBareRepository(dir.string()));
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, repo.get());
  OdbPtr odb(raw_odb);
  if (rc < 0) return Libgit2Status(rc, "open object database of " + dir.string());
  // The refs may need staged objects: publication moves them into the mirror below.
  RETURN_IF_ERROR(AddStagedObjects(odb.get(), dir));

  // Never publish a ref whose objects are missing: a client would fail mid-clone.
  std::vector<PublishedRef> entries;
  entries.reserve(refs.size());
  for (const PublishedRef& r : refs) {
    ASSIGN_OR_RETURN(std::string peeled, VerifyAndPeel(repo.get(), odb.get(), r.name, r.oid));
    if (!r.peeled.empty() && r.peeled != peeled) {
      return FailedPrecondition("ref " + r.name + ": peeled oid " + r.peeled +
                                " disagrees with the object database (" +
                                (peeled.empty() ? std::string("not a tag") : peeled) + ")");
    }
    entries.push_back({r.name, r.oid, std::move(peeled)});
  }

  ASSIGN_OR_RETURN(std::vector<PublishedRef> current, ReadPublishedRefs(dir));
  ASSIGN_OR_RETURN(std::vector<PublishedRef> packed, ReadPackedRefs(dir));
  // mirrord's own packed entries (normally none: staging refs are loose) stay as they are.
  for (PublishedRef& p : packed) {
    if (!IsPrivate(p.name)) continue;
    auto peeled = VerifyAndPeel(repo.get(), odb.get(), p.name, p.oid);
    if (peeled.ok()) p.peeled = *peeled;
    entries.push_back(std::move(p));
  }

  RefUpdateSummary summary;
  {
    std::map<std::string_view, std::string_view> before;
    for (const PublishedRef& r : current) before[r.name] = r.oid;
    for (const PublishedRef& r : refs) {
      auto it = before.find(r.name);
      if (it == before.end()) {
        ++summary.added;
      } else {
        if (it->second != r.oid) ++summary.updated;
        before.erase(it);
      }
    }
    summary.deleted = static_cast<int>(before.size());
  }

  // Loose refs would shadow the packed set; there should be none.
  RETURN_IF_ERROR(RemoveLoosePublicRefs(dir));
  {
    // The lock first: with it held, the staged objects move into the mirror (journalled;
    // mirror_staging.h), and only then does the rename publish the refs needing them.
    ASSIGN_OR_RETURN(LockedFile lock,
                     LockedFile::Create(dir / "packed-refs", RenderPackedRefs(std::move(entries))));
    ASSIGN_OR_RETURN(StagedObjectMigration migration, StagedObjectMigration::Start(dir));
    RunAfterMigrationHookForTesting();
    // The lease check is the last step before the rename, under the lock every publisher
    // of this mirror takes.
    Status committed = fence ? fence() : Status::Ok();
    if (committed.ok()) committed = lock.Commit();
    if (!committed.ok() && !lock.renamed()) {
      // Never published: the staged objects leave the mirror again.
      if (Status undo = migration.Undo(); !undo.ok()) {
        return committed.WithContext(undo.ToString());
      }
      return committed;
    }
    if (Status s = migration.Finish(); !s.ok()) {
      MLOG(Warning) << "publish " << dir.string() << ": " << s.ToString();
    }
    RETURN_IF_ERROR(committed);
  }

  if (!head.empty()) {
    std::string wanted = "ref: " + std::string(head) + "\n";
    auto existing = ReadFileToString(dir / "HEAD");
    if (!existing.ok() || *existing != wanted) {
      RETURN_IF_ERROR(CommitThroughLock(dir / "HEAD", wanted));
    }
  }
  return summary;
}

}  // namespace mirrord
