#include "git/mirror_staging.h"

#include <fcntl.h>
#include <git2.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "common/file_util.h"
#include "git/git_command.h"
#include "git/libgit2_status.h"
#include "git/mirror_repository.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

// Relative to the staging repository's objects directory: <mirror>/mirrord-staging/objects.
constexpr std::string_view kAlternates = "../../objects\n";
// CreateBareAtomically's temporary for the staging repository.
constexpr std::string_view kIncompletePrefix = ".mirrord-staging.incomplete-";

std::function<void()>& AfterMigrationHook() {
  static std::function<void()> hook;
  return hook;
}

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Pack files that move with their pack; the .idx moves last.
bool IsPackCompanion(const std::string& ext) {
  return ext == ".pack" || ext == ".rev" || ext == ".keep" || ext == ".promisor" ||
         ext == ".mtimes" || ext == ".bitmap";
}

Status FsyncFile(const fs::path& p) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + p.string());
  if (::fdatasync(fd.get()) != 0) return ErrnoStatus(errno, "fdatasync " + p.string());
  return Status::Ok();
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

// Moves the listed files (relative to the objects directories) from `from` to `to`, newest
// first, skipping those not in `from` or already in `to`; then fsyncs the directories.
Status MoveBack(const fs::path& from, const fs::path& to, const std::vector<fs::path>& files,
                std::vector<fs::path>* touched) {
  std::set<fs::path> dirs;
  Status first = Status::Ok();
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    fs::path src = from / *it;
    fs::path dst = to / *it;
    if (!Exists(src) || Exists(dst)) continue;
    if (Status s = CreateDirectories(dst.parent_path()); !s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    if (::rename(src.c_str(), dst.c_str()) != 0) {
      if (first.ok()) first = ErrnoStatus(errno, "move " + src.string() + " back to staging");
      continue;
    }
    if (touched != nullptr) touched->push_back(src);
    dirs.insert(src.parent_path());
    dirs.insert(dst.parent_path());
  }
  for (const fs::path& d : dirs) {
    if (Status s = FsyncDirectory(d); !s.ok() && first.ok()) first = s;
  }
  return first;
}

Status RemoveJournal(const fs::path& staging) {
  fs::path journal = staging / kMigrationJournalName;
  if (::unlink(journal.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "remove " + journal.string());
  }
  return FsyncDirectory(staging);
}

Status CreateStaging(const fs::path& staging) {
  Status s = MirrorRepository::CreateBareAtomically(
      staging, "mirrord staging (never served)", [](git_repository*, const fs::path& tmp) {
        RETURN_IF_ERROR(CreateDirectories(tmp / "objects" / "info"));
        return WriteFileAtomically(tmp / "objects" / "info" / "alternates", kAlternates);
      });
  if (s.code() == StatusCode::kAlreadyExists) return Status::Ok();
  return s;
}

// Staging refs kept in the mirror itself by older versions: they would make maintenance keep
// unpublished objects, and the fetch no longer reads them.
Status RemoveLegacyStagingRefs(const fs::path& mirror_dir) {
  fs::path legacy = mirror_dir / "refs" / "mirrord" / "staging";
  if (!Exists(legacy)) return Status::Ok();
  std::error_code ec;
  fs::remove_all(legacy, ec);
  if (ec) return ErrnoStatus(ec.value(), "remove " + legacy.string());
  return FsyncDirectory(legacy.parent_path());
}

}  // namespace

std::filesystem::path StagingDirectory(const std::filesystem::path& mirror_dir) {
  return mirror_dir / kStagingDirName;
}

Result<std::filesystem::path> EnsureStagingRepository(const std::filesystem::path& mirror_dir) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  RETURN_IF_ERROR(RemoveLegacyStagingRefs(mirror_dir));
  fs::path staging = StagingDirectory(mirror_dir);
  if (!Exists(staging)) {
    RETURN_IF_ERROR(CreateStaging(staging));
    return staging;
  }
  fs::path alternates = staging / "objects" / "info" / "alternates";
  auto current = ReadFileToString(alternates);
  if (!current.ok() || *current != kAlternates) {
    RETURN_IF_ERROR(CreateDirectories(alternates.parent_path()));
    RETURN_IF_ERROR(WriteFileAtomically(alternates, kAlternates));
  }
  return staging;
}

Status AddStagedObjects(git_odb* odb, const std::filesystem::path& mirror_dir) {
  fs::path objects = StagingDirectory(mirror_dir) / "objects";
  std::error_code ec;
  if (!fs::is_directory(objects, ec)) return Status::Ok();
  int rc = git_odb_add_disk_alternate(odb, objects.c_str());
  if (rc < 0) return Libgit2Status(rc, "read staged objects in " + objects.string());
  return Status::Ok();
}

Result<std::vector<std::string>> StagedPacks(const std::filesystem::path& mirror_dir) {
  const fs::path pack_dir = StagingDirectory(mirror_dir) / "objects" / "pack";
  std::set<std::string> packs, idxs;
  std::error_code ec;
  for (auto it = fs::directory_iterator(pack_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with("pack-")) continue;
    std::string ext = it->path().extension().string();
    if (ext == ".pack") packs.insert(it->path().stem().string());
    if (ext == ".idx") idxs.insert(it->path().stem().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), "list " + pack_dir.string());
  }
  std::vector<std::string> out;
  for (const std::string& p : packs) {
    if (idxs.contains(p)) out.push_back(p);
  }
  return out;
}

Status CompactStagedObjects(const std::filesystem::path& mirror_dir,
                            const std::vector<std::string>& wanted_tips,
                            const std::vector<std::string>& published_tips) {
  const fs::path staging = StagingDirectory(mirror_dir);
  const fs::path pack_dir = staging / "objects" / "pack";
  ASSIGN_OR_RETURN(std::vector<std::string> before, StagedPacks(mirror_dir));
  std::set<std::string> published(published_tips.begin(), published_tips.end());
  std::string input;
  for (const std::string& tip : wanted_tips) {
    if (!published.contains(tip)) input += tip + "\n";
  }
  std::string keep;  // the new pack, when one was written
  if (!input.empty()) {
    for (const std::string& tip : published) input += "^" + tip + "\n";
    RETURN_IF_ERROR(RunGitCommand({"git", "--git-dir=" + staging.string(), "pack-objects",
                                   "--revs", "--local", "-q", (pack_dir / "pack").string()},
                                  input));
    ASSIGN_OR_RETURN(std::vector<std::string> after, StagedPacks(mirror_dir));
    std::set<std::string> old(before.begin(), before.end());
    std::vector<std::string> added;
    for (const std::string& p : after) {
      if (!old.contains(p)) added.push_back(p);
    }
    // The new pack has the name of an old one (same content) or nothing was written: which
    // old packs are superseded is unknown, so all stay.
    if (added.size() != 1) return Status::Ok();
    keep = added.front();
  }
  for (const std::string& p : before) {
    if (p == keep) continue;
    // The index first: without it no reader uses the pack.
    for (const char* ext : {".idx", ".pack", ".rev", ".bitmap", ".keep", ".promisor", ".mtimes"}) {
      fs::path f = pack_dir / (p + ext);
      if (::unlink(f.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus(errno, "remove " + f.string());
      }
    }
  }
  return FsyncDirectory(pack_dir);
}

Result<StagedObjectMigration> StagedObjectMigration::Start(
    const std::filesystem::path& mirror_dir) {
  StagedObjectMigration m;
  m.mirror_dir_ = mirror_dir;
  const fs::path staging = StagingDirectory(mirror_dir);
  const fs::path src = staging / "objects";
  const fs::path dst = mirror_dir / "objects";
  std::error_code ec;
  if (!fs::is_directory(src, ec)) return m;

  // Plan: companions of complete packs, loose objects, then the .idx files.
  std::vector<fs::path> first, last;
  {
    std::set<std::string> idx_stems, pack_stems;
    std::vector<fs::path> pack_files;
    for (auto it = fs::directory_iterator(src / "pack", ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!name.starts_with("pack-")) continue;  // temporaries of a running or failed fetch
      std::string ext = it->path().extension().string();
      if (ext == ".idx") idx_stems.insert(it->path().stem().string());
      if (ext == ".pack") pack_stems.insert(it->path().stem().string());
      pack_files.push_back(fs::path("pack") / name);
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return ErrnoStatus(ec.value(), "list " + (src / "pack").string());
    }
    ec.clear();
    std::sort(pack_files.begin(), pack_files.end());
    for (const fs::path& f : pack_files) {
      std::string stem = f.stem().string();
      if (!idx_stems.contains(stem) || !pack_stems.contains(stem)) continue;  // incomplete
      std::string ext = f.extension().string();
      if (ext == ".idx") {
        last.push_back(f);
      } else if (IsPackCompanion(ext)) {
        first.push_back(f);
      }
    }
    for (auto it = fs::directory_iterator(src, ec); !ec && it != fs::end(it); it.increment(ec)) {
      std::string dir_name = it->path().filename().string();
      std::error_code inner;
      if (dir_name.size() != 2 || !IsHex(dir_name) || !it->is_directory(inner)) continue;
      for (auto o = fs::directory_iterator(it->path(), inner); !inner && o != fs::end(o);
           o.increment(inner)) {
        std::string name = o->path().filename().string();
        if (name.size() == 38 && IsHex(name)) first.push_back(fs::path(dir_name) / name);
      }
      if (inner) return ErrnoStatus(inner.value(), "list " + it->path().string());
    }
    if (ec) return ErrnoStatus(ec.value(), "list " + src.string());
  }
  std::vector<fs::path> plan;
  for (const auto* group : {&first, &last}) {
    for (const fs::path& f : *group) {
      if (Exists(dst / f)) {
        m.duplicates_.push_back(src / f);
      } else {
        plan.push_back(f);
      }
    }
  }
  if (plan.empty()) return m;

  std::string journal;
  for (const fs::path& f : plan) journal += f.generic_string() + "\n";
  RETURN_IF_ERROR(WriteFileAtomically(staging / kMigrationJournalName, journal));

  auto fail = [&](Status s) -> Status {
    if (m.Undo().ok()) return s;
    return s.WithContext("and moving the staged objects back failed (recovery will finish it)");
  };
  std::set<fs::path> src_dirs, dst_dirs;
  bool in_idx_phase = false;
  for (const fs::path& f : plan) {
    bool is_idx = f.extension() == ".idx";
    if (is_idx && !in_idx_phase) {
      // Every pack is durable in the mirror before any .idx makes one visible.
      for (const fs::path& d : dst_dirs) {
        if (Status s = FsyncDirectory(d); !s.ok()) return fail(s);
      }
      in_idx_phase = true;
    }
    fs::path from = src / f;
    fs::path to = dst / f;
    if (Status s = FsyncFile(from); !s.ok()) return fail(s);
    if (!Exists(to.parent_path())) {
      if (Status s = CreateDirectories(to.parent_path()); !s.ok()) return fail(s);
      if (Status s = FsyncDirectory(dst); !s.ok()) return fail(s);
    }
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return fail(ErrnoStatus(errno, "move " + from.string() + " to " + to.string()));
    }
    m.moved_.push_back(f);
    src_dirs.insert(from.parent_path());
    dst_dirs.insert(to.parent_path());
  }
  for (const auto* dirs : {&dst_dirs, &src_dirs}) {
    for (const fs::path& d : *dirs) {
      if (Status s = FsyncDirectory(d); !s.ok()) return fail(s);
    }
  }
  return m;
}

Status StagedObjectMigration::Finish() {
  if (mirror_dir_.empty()) return Status::Ok();
  const fs::path staging = StagingDirectory(mirror_dir_);
  Status result = Status::Ok();
  if (!moved_.empty()) result = RemoveJournal(staging);
  for (const fs::path& d : duplicates_) {
    if (::unlink(d.c_str()) != 0 && errno != ENOENT && result.ok()) {
      result = ErrnoStatus(errno, "remove " + d.string());
    }
  }
  moved_.clear();
  duplicates_.clear();
  return result;
}

Status StagedObjectMigration::Undo() {
  if (mirror_dir_.empty() || moved_.empty()) return Status::Ok();
  const fs::path staging = StagingDirectory(mirror_dir_);
  RETURN_IF_ERROR(MoveBack(mirror_dir_ / "objects", staging / "objects", moved_, nullptr));
  moved_.clear();
  return RemoveJournal(staging);
}

Status RecoverStagingAfterCrash(const std::filesystem::path& mirror_dir,
                                std::vector<std::filesystem::path>& touched) {
  std::error_code ec;
  if (!fs::is_directory(mirror_dir, ec)) return Status::Ok();
  std::vector<fs::path> incomplete;
  for (auto it = fs::directory_iterator(mirror_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename().string().starts_with(kIncompletePrefix)) {
      incomplete.push_back(it->path());
    }
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + mirror_dir.string());
  for (const fs::path& p : incomplete) {
    fs::remove_all(p, ec);
    if (ec) return ErrnoStatus(ec.value(), "remove " + p.string());
    touched.push_back(p);
  }

  const fs::path staging = StagingDirectory(mirror_dir);
  // A journal's own temporary, from a crash while writing it (nothing was moved yet).
  std::vector<fs::path> journal_tmps;
  for (auto it = fs::directory_iterator(staging, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename().string().starts_with(std::string(kMigrationJournalName) + ".tmp.")) {
      journal_tmps.push_back(it->path());
    }
  }
  for (const fs::path& p : journal_tmps) {
    if (::unlink(p.c_str()) == 0) touched.push_back(p);
  }

  const fs::path journal = staging / kMigrationJournalName;
  auto text = ReadFileToString(journal);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return Status::Ok();
    return text.status();
  }
  // packed-refs.lock still there: the new refs were never renamed into place, so the
  // mirror's published state is the old one and the moved objects must leave it again.
  if (Exists(mirror_dir / "packed-refs.lock")) {
    std::vector<fs::path> files;
    std::string_view rest = *text;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      // Only names Start writes: "pack/pack-*" and "xx/<38 hex>"; nothing that climbs out.
      if (line.empty() || line.find("..") != std::string_view::npos || line.front() == '/') {
        continue;
      }
      files.emplace_back(line);
    }
    RETURN_IF_ERROR(MoveBack(mirror_dir / "objects", staging / "objects", files, &touched));
  }
  RETURN_IF_ERROR(RemoveJournal(staging));
  touched.push_back(journal);
  return Status::Ok();
}

void SetAfterMigrationHookForTesting(std::function<void()> hook) {
  AfterMigrationHook() = std::move(hook);
}

void RunAfterMigrationHookForTesting() {
  if (AfterMigrationHook()) AfterMigrationHook()();
}

}  // namespace mirrord
