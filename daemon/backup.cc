#include "daemon/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "common/file_util.h"
#include "common/log.h"
#include "git/connectivity_check.h"
#include "git/ref_publisher.h"
#include "storage/catalog.h"
#include "storage/sqlite.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

constexpr int kMirrorTries = 3;
constexpr char kMarker[] = "mirrord-backup.json";
// The staging area of a mirror (git/mirror_staging.h): unpublished objects stay behind.
constexpr char kStagingDir[] = "mirrord-staging";

class Writer {
 public:
  Writer(const std::atomic<bool>& cancel,
         const std::function<void(const BackupProgress&)>& progress)
      : cancel_(cancel), progress_(progress) {}

  BackupProgress& state() { return state_; }
  void Report() {
    if (progress_) progress_(state_);
  }
  Status CheckCancel() const {
    return cancel_.load() ? Cancelled("the backup was cancelled (mirrord is stopping)")
                          : Status::Ok();
  }

  // `to` becomes a hard link to `from`, or a copy where a link cannot be made (another file
  // system). NotFound when `from` vanished (git deleted a pack meanwhile).
  Status LinkOrCopy(const fs::path& from, const fs::path& to) {
    RETURN_IF_ERROR(CheckCancel());
    struct stat st {};
    if (::lstat(from.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + from.string());
    if (::link(from.c_str(), to.c_str()) == 0) {
      ++state_.linked;
    } else if (errno == EXDEV || errno == EPERM || errno == EMLINK) {
      std::error_code ec;
      if (!fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec)) {
        if (ec == std::errc::no_such_file_or_directory)
          return NotFound("vanished: " + from.string());
        return ErrnoStatus(ec.value(), "copy " + from.string() + " to " + to.string());
      }
    } else {
      return ErrnoStatus(errno, "link " + from.string() + " to " + to.string());
    }
    ++state_.files;
    state_.bytes += static_cast<uint64_t>(st.st_size);
    if (state_.files % 256 == 0) Report();
    return Status::Ok();
  }

  // Every regular file under `from` into the same place under `to` (directories created);
  // `skip` names entries (relative paths) left out. Returns the number of files.
  Result<uint64_t> Tree(const fs::path& from, const fs::path& to,
                        const std::function<bool(const fs::path&)>& skip = {}) {
    uint64_t count = 0;
    std::error_code ec;
    if (!fs::exists(from, ec)) return count;
    RETURN_IF_ERROR(CreateDirectories(to));
    fs::recursive_directory_iterator it(from, ec), end;
    if (ec) return ErrnoStatus(ec.value(), "list " + from.string());
    for (; it != end; it.increment(ec)) {
      if (ec) return ErrnoStatus(ec.value(), "list " + from.string());
      const fs::path rel = fs::relative(it->path(), from);
      if (skip && skip(rel)) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_directory(ec)) {
        RETURN_IF_ERROR(CreateDirectories(to / rel));
      } else if (it->is_regular_file(ec)) {
        RETURN_IF_ERROR(LinkOrCopy(it->path(), to / rel));
        ++count;
      }
    }
    return count;
  }

 private:
  const std::atomic<bool>& cancel_;
  const std::function<void(const BackupProgress&)>& progress_;
  BackupProgress state_;
};

// SQLite's online backup of `from` into a new database file `to`, in one step: a single
// read transaction on the source, so the copy is one consistent snapshot.
Status BackupCatalog(const fs::path& from, const fs::path& to) {
  ASSIGN_OR_RETURN(Db src, Db::Open(from, SQLITE_OPEN_READONLY));
  RETURN_IF_ERROR(src.Exec("PRAGMA busy_timeout = 10000"));
  ASSIGN_OR_RETURN(Db dst, Db::Open(to));
  sqlite3_backup* backup = sqlite3_backup_init(dst.get(), "main", src.get(), "main");
  if (backup == nullptr) {
    return SqliteError(sqlite3_errcode(dst.get()), dst.get(), "backup of " + from.string());
  }
  std::unique_ptr<sqlite3_backup, int (*)(sqlite3_backup*)> owned(backup, sqlite3_backup_finish);
  int rc = SQLITE_OK;
  // BUSY/LOCKED only while a writer holds the file in a way WAL readers cannot pass (a
  // checkpoint truncating the log, say): brief, so try again.
  for (int tries = 0; tries < 100; ++tries) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    sqlite3_sleep(100);
  }
  if (rc != SQLITE_DONE) return SqliteError(rc, dst.get(), "backup of " + from.string());
  rc = sqlite3_backup_finish(owned.release());
  if (rc != SQLITE_OK) return SqliteError(rc, dst.get(), "backup of " + from.string());
  // A self-contained file: no -wal beside it.
  return dst.Exec("PRAGMA journal_mode = DELETE");
}

// One mirror at the refs the catalog snapshot records. NotFound/DataLoss when git rewrote
// packs during the copy (the caller tries again).
Status CopyMirror(Writer& w, const fs::path& from, const fs::path& to,
                  const std::vector<PublishedRef>& refs, const std::string& head) {
  ASSIGN_OR_RETURN(uint64_t files, w.Tree(from, to, [](const fs::path& rel) {
    const std::string first = rel.begin()->string();
    const std::string name = rel.filename().string();
    return first == kStagingDir || name.ends_with(".lock");
  }));
  (void)files;
  ASSIGN_OR_RETURN(RefUpdateSummary summary, PublishRefs(to, refs, head));
  (void)summary;
  return CheckConnectivity(to, refs, {});
}

Status WriteMarker(const fs::path& dir, const BackupSummary& s) {
  boost::json::object o = BackupSummaryJson(s);
  o["format"] = 1;
  return WriteFileAtomically(dir / kMarker, boost::json::serialize(o) + "\n");
}

}  // namespace

boost::json::object BackupSummaryJson(const BackupSummary& s) {
  boost::json::object o;
  o["dir"] = s.dir;
  o["repos"] = s.repos;
  o["refs"] = s.refs;
  o["lfs_objects"] = s.lfs_objects;
  o["oci_blobs"] = s.oci_blobs;
  o["files"] = s.files;
  o["bytes"] = s.bytes;
  o["linked"] = s.linked;
  o["created_at"] = s.created_at;
  return o;
}

Result<BackupSummary> WriteBackup(const BackupSources& sources, const fs::path& dir, int64_t now,
                                  const std::atomic<bool>& cancel,
                                  const std::function<void(const BackupProgress&)>& progress) {
  if (!dir.is_absolute()) {
    return InvalidArgument(
        "the backup directory must be an absolute path on mirrord's host, got \"" + dir.string() +
        "\"");
  }
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return AlreadyExists("the backup directory " + dir.string() + " is not empty");
  }
  RETURN_IF_ERROR(CreateDirectories(dir));
  Writer w(cancel, progress);
  BackupSummary summary;
  summary.dir = dir.string();
  summary.created_at = now;

  {
    // Retention removes OCI blobs with this lock held exclusively: none goes while the
    // snapshot that may still list it is taken and its blobs copied.
    std::shared_lock collection(sources.oci->collection_mutex());
    w.state().phase = "catalog";
    w.Report();
    RETURN_IF_ERROR(BackupCatalog(sources.catalog_file, dir / "catalog.sqlite"));
    w.state().phase = "images";
    w.Report();
    ASSIGN_OR_RETURN(summary.oci_blobs,
                     w.Tree(sources.oci->root() / "blobs", dir / "oci" / "blobs"));
  }

  w.state().phase = "mirrors";
  RETURN_IF_ERROR(CreateDirectories(dir / "repos"));
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Catalog> snapshot, Catalog::Open(dir / "catalog.sqlite"));
    ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, snapshot->ListRepos());
    w.state().repos_total = static_cast<int64_t>(repos.size());
    for (const RepoRecord& repo : repos) {
      RETURN_IF_ERROR(w.CheckCancel());
      ASSIGN_OR_RETURN(std::vector<RefRecord> records, snapshot->GetRefs(repo.id));
      const fs::path from = sources.repos_dir / (repo.name + ".git");
      // Never published: the new node syncs it from scratch, as this one would.
      if (records.empty() || !fs::is_directory(from, ec)) {
        ++w.state().repos_done;
        continue;
      }
      std::vector<PublishedRef> refs;
      for (const RefRecord& r : records) refs.push_back({r.name, r.oid, r.peeled});
      const fs::path to = dir / "repos" / (repo.name + ".git");
      Status copied;
      for (int attempt = 1; attempt <= kMirrorTries; ++attempt) {
        copied = CopyMirror(w, from, to, refs, repo.head);
        if (copied.ok() || copied.code() == StatusCode::kCancelled) break;
        MLOG(Warning) << "backup: mirror " << repo.name << " (try " << attempt << " of "
                      << kMirrorTries << "): " << copied.ToString();
        fs::remove_all(to, ec);
      }
      if (!copied.ok()) {
        if (copied.code() == StatusCode::kCancelled) return copied;
        return DataLoss("mirror " + repo.name + " could not be copied: " + copied.message());
      }
      ++summary.repos;
      summary.refs += static_cast<int64_t>(refs.size());
      ++w.state().repos_done;
      w.Report();
    }
  }

  w.state().phase = "lfs";
  w.Report();
  ASSIGN_OR_RETURN(summary.lfs_objects,
                   w.Tree(sources.lfs->root() / "objects", dir / "lfs" / "objects"));

  w.state().phase = "sync";
  w.Report();
  {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(errno, "open " + dir.string());
    if (::syncfs(fd.get()) != 0) return ErrnoStatus(errno, "syncfs " + dir.string());
  }
  summary.files = w.state().files;
  summary.bytes = w.state().bytes;
  summary.linked = w.state().linked;
  RETURN_IF_ERROR(WriteMarker(dir, summary));
  w.state().phase = "done";
  w.Report();
  return summary;
}

}  // namespace mirrord
