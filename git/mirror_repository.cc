#include "git/mirror_repository.h"

#include <git2.h>
#include <stdlib.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "common/file_util.h"
#include "git/libgit2_status.h"
#include "git/mirror_staging.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIncompleteInfix = ".incomplete-";

// mirrord's repository configuration, applied on creation and on every open.
constexpr std::pair<const char*, const char*> kMirrorConfig[] = {
    {"core.logAllRefUpdates", "false"},
    {"gc.auto", "0"},
    // Hidden by prefix: git matches a hideRefs entry against whole path components, so the
    // value must not end in '/' ("refs/mirrord/" would hide nothing below it).
    {"uploadpack.hideRefs", "refs/mirrord"},
    {"uploadpack.allowFilter", "true"},
    {"uploadpack.allowAnySHA1InWant", "false"},
    {"uploadpack.allowTipSHA1InWant", "false"},
    {"uploadpack.allowReachableSHA1InWant", "false"},
    {"http.receivepack", "false"},
};

Status ApplyMirrorConfig(git_repository* repo, const std::string& dir) {
  git_config* raw = nullptr;
  int rc = git_repository_config(&raw, repo);
  ConfigPtr all(raw);
  if (rc < 0) return Libgit2Status(rc, "read configuration of " + dir);
  raw = nullptr;
  rc = git_config_open_level(&raw, all.get(), GIT_CONFIG_LEVEL_LOCAL);
  ConfigPtr local(raw);
  if (rc < 0) return Libgit2Status(rc, "open configuration of " + dir);
  for (const auto& [key, value] : kMirrorConfig) {
    ScopedGitBuf current;
    rc = git_config_get_string_buf(current.get(), local.get(), key);
    if (rc == 0 && current.view() == value) continue;
    if (rc < 0 && rc != GIT_ENOTFOUND) {
      // A multi-valued key (hideRefs set by hand): leave the operator's values alone.
      continue;
    }
    rc = git_config_set_string(local.get(), key, value);
    if (rc < 0) return Libgit2Status(rc, std::string("set ") + key + " in " + dir);
  }
  return Status::Ok();
}

Status FsyncTree(const fs::path& root) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) RETURN_IF_ERROR(FsyncDirectory(it->path()));
  }
  if (ec) return ErrnoStatus(ec.value(), "walk " + root.string());
  return FsyncDirectory(root);
}

Status OpenExisting(const fs::path& dir) {
  auto repo = OpenBareRepository(dir.string());
  if (!repo.ok()) {
    return FailedPrecondition(dir.string() + " exists but is not a bare git repository (" +
                              repo.status().message() + ")");
  }
  return ApplyMirrorConfig(repo->get(), dir.string());
}

Status CreateFresh(const fs::path& dir) {
  Status s = MirrorRepository::CreateBareAtomically(
      dir, "mirrord mirror", [](git_repository* repo, const fs::path& tmp) {
        return ApplyMirrorConfig(repo, tmp.string());
      });
  // Another creator won the race: use theirs.
  if (s.code() == StatusCode::kAlreadyExists) return OpenExisting(dir);
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }
bool EndsWith(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

bool IsHexDirName(std::string_view name) {
  if (name.size() != 2) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class Remover {
 public:
  Status Remove(const fs::path& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec) return ErrnoStatus(ec.value(), "remove " + p.string());
    removed_.push_back(p);
    return Status::Ok();
  }
  // Removes the entries of `dir` (not recursing) whose name satisfies `pred`.
  template <typename Pred>
  Status RemoveMatching(const fs::path& dir, Pred pred) {
    std::error_code ec;
    std::vector<fs::path> victims;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
      if (pred(it->path().filename().string())) victims.push_back(it->path());
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return ErrnoStatus(ec.value(), "list " + dir.string());
    }
    for (const fs::path& p : victims) RETURN_IF_ERROR(Remove(p));
    return Status::Ok();
  }
  void Note(std::vector<fs::path> touched) {
    removed_.insert(removed_.end(), std::make_move_iterator(touched.begin()),
                    std::make_move_iterator(touched.end()));
  }
  std::vector<fs::path> Take() { return std::move(removed_); }

 private:
  std::vector<fs::path> removed_;
};

Status RemoveStaleRefLocks(const fs::path& refs_dir, Remover& remover) {
  std::error_code ec;
  std::vector<fs::path> victims;
  for (auto it = fs::recursive_directory_iterator(refs_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (EndsWith(it->path().filename().string(), ".lock") && !it->is_directory(ec)) {
      victims.push_back(it->path());
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), "walk " + refs_dir.string());
  }
  for (const fs::path& p : victims) RETURN_IF_ERROR(remover.Remove(p));
  return Status::Ok();
}

Status RemovePackGarbage(const fs::path& pack_dir, Remover& remover) {
  // Temporary files: libgit2's indexer ("pack_git2_XXXXXX"), git's index-pack and repack
  // ("tmp_pack_*", "tmp_idx_*", ".tmp-<pid>-pack-*"), and locks (multi-pack-index.lock).
  RETURN_IF_ERROR(remover.RemoveMatching(pack_dir, [](const std::string& name) {
    return StartsWith(name, "pack_git2_") || StartsWith(name, "tmp_") ||
           StartsWith(name, ".tmp-") || EndsWith(name, ".lock");
  }));
  // Half-renamed packs: both libgit2 and git rename the .pack into place before its .idx,
  // so a .pack without .idx is an interrupted write that no reader ever uses.
  std::set<std::string> stems_with_pack, stems_with_idx;
  std::error_code ec;
  for (auto it = fs::directory_iterator(pack_dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    fs::path p = it->path();
    std::string name = p.filename().string();
    if (!StartsWith(name, "pack-")) continue;
    if (p.extension() == ".pack") stems_with_pack.insert(p.stem().string());
    if (p.extension() == ".idx") stems_with_idx.insert(p.stem().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), "list " + pack_dir.string());
  }
  return remover.RemoveMatching(pack_dir, [&](const std::string& name) {
    if (!StartsWith(name, "pack-")) return false;
    fs::path p(name);
    std::string stem = p.stem().string();
    std::string ext = p.extension().string();
    if (ext == ".pack") return !stems_with_idx.contains(stem);
    if (ext == ".idx" || ext == ".rev" || ext == ".bitmap") return !stems_with_pack.contains(stem);
    return false;
  });
}

// Stale locks and temporaries of one repository directory (the mirror or its staging).
Status RemoveRepositoryGarbage(const fs::path& dir, Remover& remover) {
  std::error_code ec;

  RETURN_IF_ERROR(remover.RemoveMatching(dir, [](const std::string& name) {
    return name == "packed-refs.lock" || name == "HEAD.lock" || name == "config.lock" ||
           name == "FETCH_HEAD.lock" || name == "shallow.lock" || name == "index.lock";
  }));
  RETURN_IF_ERROR(RemoveStaleRefLocks(dir / "refs", remover));
  fs::path objects = dir / "objects";
  // Loose-object temporaries: libgit2 ("tmp_object_git2_*" in objects/) and git
  // ("tmp_obj_*" in objects/ or objects/xx/).
  RETURN_IF_ERROR(remover.RemoveMatching(
      objects, [](const std::string& name) { return StartsWith(name, "tmp_"); }));
  std::vector<fs::path> fanout;
  for (auto it = fs::directory_iterator(objects, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (IsHexDirName(it->path().filename().string())) fanout.push_back(it->path());
  }
  for (const fs::path& d : fanout) {
    RETURN_IF_ERROR(remover.RemoveMatching(
        d, [](const std::string& name) { return StartsWith(name, "tmp_"); }));
  }
  RETURN_IF_ERROR(RemovePackGarbage(objects / "pack", remover));
  auto graph_garbage = [](const std::string& name) {
    return EndsWith(name, ".lock") || StartsWith(name, "tmp_");
  };
  RETURN_IF_ERROR(remover.RemoveMatching(objects / "info", graph_garbage));
  RETURN_IF_ERROR(remover.RemoveMatching(objects / "info" / "commit-graphs", graph_garbage));
  return Status::Ok();
}

// Everything RecoverAfterCrash removes inside `dir` (its siblings are the caller's).
Result<std::vector<fs::path>> RecoverInside(const fs::path& dir, Remover& remover) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return remover.Take();
  // First: an interrupted publication is settled by whether packed-refs.lock is still there.
  std::vector<fs::path> touched;
  Status staging = RecoverStagingAfterCrash(dir, touched);
  remover.Note(std::move(touched));
  RETURN_IF_ERROR(staging);
  RETURN_IF_ERROR(RemoveRepositoryGarbage(dir, remover));
  fs::path staging_dir = StagingDirectory(dir);
  if (fs::is_directory(staging_dir, ec)) RETURN_IF_ERROR(RemoveRepositoryGarbage(staging_dir, remover));
  return remover.Take();
}

}  // namespace

Status MirrorRepository::CreateOrOpen(const std::filesystem::path& dir) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  std::error_code ec;
  if (fs::exists(dir, ec)) return OpenExisting(dir);
  if (ec) return ErrnoStatus(ec.value(), "stat " + dir.string());
  return CreateFresh(dir);
}

Status MirrorRepository::CreateBareAtomically(
    const std::filesystem::path& dir, const char* description,
    const std::function<Status(git_repository*, const std::filesystem::path&)>& prepare) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  fs::path parent = dir.parent_path();
  if (parent.empty()) parent = ".";
  RETURN_IF_ERROR(CreateDirectories(parent));
  std::string pattern =
      (parent / ("." + dir.filename().string() + std::string(kIncompleteInfix) + "XXXXXX"))
          .string();
  if (::mkdtemp(pattern.data()) == nullptr) return ErrnoStatus(errno, "create " + pattern);
  fs::path tmp = pattern;
  auto cleanup = [&](Status s) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return s;
  };

  git_repository_init_options opts;
  git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
  opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
  opts.initial_head = "main";
  opts.description = description;
  git_repository* raw = nullptr;
  int rc = git_repository_init_ext(&raw, tmp.c_str(), &opts);
  RepositoryPtr repo(raw);
  if (rc < 0) return cleanup(Libgit2Status(rc, "create repository " + tmp.string()));
  if (prepare) {
    if (Status s = prepare(repo.get(), tmp); !s.ok()) return cleanup(s);
  }
  repo.reset();
  if (Status s = FsyncTree(tmp); !s.ok()) return cleanup(s);

  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    int err = errno;
    if (err == EEXIST || err == ENOTEMPTY) {
      (void)cleanup(Status::Ok());
      return AlreadyExists(dir.string() + " was created meanwhile");
    }
    return cleanup(ErrnoStatus(err, "rename " + tmp.string() + " to " + dir.string()));
  }
  return FsyncDirectory(parent);
}

Result<std::vector<std::filesystem::path>> MirrorRepository::RecoverAfterCrash(
    const std::filesystem::path& dir) {
  return std::move(RecoverAllAfterCrash({dir}).front());
}

std::vector<Result<std::vector<std::filesystem::path>>> MirrorRepository::RecoverAllAfterCrash(
    const std::vector<std::filesystem::path>& dirs) {
  std::vector<Remover> removers(dirs.size());
  std::vector<Status> failures(dirs.size(), Status::Ok());
  // parent -> (mirror directory name -> index in dirs)
  std::map<fs::path, std::map<std::string, size_t>> by_parent;
  for (size_t i = 0; i < dirs.size(); ++i) {
    fs::path parent = dirs[i].parent_path();
    if (parent.empty()) parent = ".";
    by_parent[parent][dirs[i].filename().string()] = i;
  }
  for (const auto& [parent, names] : by_parent) {
    std::error_code ec;
    std::vector<std::pair<size_t, fs::path>> victims;
    for (auto it = fs::directory_iterator(parent, ec); !ec && it != fs::end(it); it.increment(ec)) {
      const std::string entry = it->path().filename().string();
      // ".<name>.incomplete-XXXXXX", as CreateFresh names its temporary directory.
      const size_t suffix = kIncompleteInfix.size() + 6;
      if (entry.size() <= suffix + 1 || entry[0] != '.') continue;
      if (entry.compare(entry.size() - suffix, kIncompleteInfix.size(), kIncompleteInfix) != 0) {
        continue;
      }
      auto owner = names.find(entry.substr(1, entry.size() - suffix - 1));
      if (owner != names.end()) victims.emplace_back(owner->second, it->path());
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      for (const auto& [name, i] : names) {
        failures[i] = ErrnoStatus(ec.value(), "list " + parent.string());
      }
      continue;
    }
    for (const auto& [i, path] : victims) {
      if (Status s = removers[i].Remove(path); !s.ok() && failures[i].ok()) failures[i] = s;
    }
  }
  std::vector<Result<std::vector<fs::path>>> out;
  out.reserve(dirs.size());
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (!failures[i].ok()) {
      out.emplace_back(failures[i]);
    } else {
      out.push_back(RecoverInside(dirs[i], removers[i]));
    }
  }
  return out;
}

}  // namespace mirrord
