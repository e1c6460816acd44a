// A consistent backup of what a mirrord node serves, written into a directory laid out as a
// [storage] root, so that a new node started on a copy of it serves the same refs, LFS
// objects and images (README, "Backup and restore"):
//
//   DIR/catalog.sqlite        the catalog, copied with SQLite's online backup API (one read
//                             transaction: a snapshot, while syncs keep writing)
//   DIR/oci/blobs/sha256/...  the build stage's manifests, configs and inline layers
//   DIR/repos/<name>.git      each mirror with the refs and HEAD the catalog snapshot records
//                             (not whatever the live mirror has moved on to), its objects
//                             proven complete with `git rev-list --objects`
//   DIR/lfs/objects/...       the LFS store's verified objects
//   DIR/mirrord-backup.json   written last: a directory without it is an unfinished backup
//
// Consistency. The catalog is copied first, then what it references. A publication writes
// the mirror's objects and the LFS objects before the catalog records the refs, so whatever
// the snapshot names was already on disk; content-addressed files are immutable, so later
// additions do no harm (unreferenced extras). The OCI blobs are copied while the store's
// collection lock is held shared, so that retention cannot remove a blob of an image the
// snapshot still lists. Git may repack while a mirror is copied (packs rewritten, old ones
// deleted): the copy is checked for connectivity and taken again when that lost an object.
//
// Files are hard links into the live stores when DIR is on the same file system (instant,
// no extra space: every copied file is immutable, git replaces its files by rename), copies
// otherwise; a backup meant to survive the loss of the disk belongs on another one.
// Everything copied is fsynced (syncfs of DIR) before the marker is written.
//
// Thread-safety: WriteBackup may run beside serving and syncs; run one backup at a time.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/status.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"

namespace mirrord {

struct BackupSources {
  std::filesystem::path catalog_file;  // the live catalog (Config::CatalogPath())
  std::filesystem::path repos_dir;     // <storage root>/repos
  const BlobStore* lfs = nullptr;
  const OciStore* oci = nullptr;
};

// Where a running backup is, for progress lines.
struct BackupProgress {
  std::string phase;  // "catalog", "images", "mirrors", "lfs", "sync", "done"
  int64_t repos_done = 0;
  int64_t repos_total = 0;
  uint64_t files = 0;   // files written so far (linked or copied)
  uint64_t bytes = 0;   // their bytes
  uint64_t linked = 0;  // of which hard links
};

struct BackupSummary {
  std::string dir;
  int64_t repos = 0;  // mirrors with published refs
  int64_t refs = 0;
  uint64_t lfs_objects = 0;
  uint64_t oci_blobs = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t linked = 0;
  int64_t created_at = 0;  // unix seconds
};

// {"dir", "repos", "refs", "lfs_objects", "oci_blobs", "files", "bytes", "linked",
// "created_at"}: the marker's content and the admin API's last line (field names are a
// contract).
boost::json::object BackupSummaryJson(const BackupSummary& summary);

// Writes a backup of `sources` into `dir`, which must be absolute and absent or empty
// (created with its parents). On success every file is durable and DIR/mirrord-backup.json
// holds the summary. On failure DIR is left without the marker (what was written stays, for
// the operator to remove): InvalidArgument for a relative `dir`; AlreadyExists for a
// non-empty one; Cancelled when `cancel` became true; DataLoss when a mirror could not be
// copied completely (three tries); else the I/O, SQLite or git error, naming the path.
// `progress` is called from this thread now and then; it must be cheap.
Result<BackupSummary> WriteBackup(const BackupSources& sources, const std::filesystem::path& dir,
                                  int64_t now, const std::atomic<bool>& cancel,
                                  const std::function<void(const BackupProgress&)>& progress);

}  // namespace mirrord
