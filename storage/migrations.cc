#include "storage/migrations.h"

#include <string>

#include "common/log.h"

namespace mirrord {
namespace {

// Ids use AUTOINCREMENT so that an id is never reused after its row is deleted: a client
// polling run 42 must not suddenly see another repository's run 42.
constexpr std::string_view kCatalogV1 = R"sql(
CREATE TABLE repos (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  name            TEXT NOT NULL UNIQUE,
  upstream        TEXT NOT NULL DEFAULT '',
  path            TEXT NOT NULL DEFAULT '',
  url             TEXT NOT NULL DEFAULT '',
  state           TEXT NOT NULL DEFAULT 'new'
                  CHECK (state IN ('new', 'syncing', 'ready', 'failed')),
  head            TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL DEFAULT 0,
  updated_at      INTEGER NOT NULL DEFAULT 0,
  last_success_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE refs (
  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
  name    TEXT NOT NULL,
  oid     TEXT NOT NULL,
  peeled  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;

CREATE TABLE sync_runs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  repo_id          INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
  "trigger"        TEXT NOT NULL DEFAULT '',
  state            TEXT NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')),
  error            TEXT NOT NULL DEFAULT '',
  queued_at        INTEGER NOT NULL DEFAULT 0,
  started_at       INTEGER NOT NULL DEFAULT 0,
  finished_at      INTEGER NOT NULL DEFAULT 0,
  received_bytes   INTEGER NOT NULL DEFAULT 0,
  received_objects INTEGER NOT NULL DEFAULT 0,
  refs_added       INTEGER NOT NULL DEFAULT 0,
  refs_updated     INTEGER NOT NULL DEFAULT 0,
  refs_deleted     INTEGER NOT NULL DEFAULT 0
);

-- A repo's history, newest first; also serves the ON DELETE CASCADE lookup.
CREATE INDEX sync_runs_by_repo ON sync_runs (repo_id, id);
-- Restart recovery and the job queue look only at the few unfinished runs.
CREATE INDEX sync_runs_unfinished ON sync_runs (state) WHERE state IN ('queued', 'running');
)sql";

// Git LFS: the state of every object any repo references (the blob store holds the bytes),
// which published refs reference which objects, and the LFS counters of each run.
constexpr std::string_view kCatalogV2 = R"sql(
CREATE TABLE lfs_objects (
  oid         TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'present', 'failed')),
  error       TEXT NOT NULL DEFAULT '',
  error_code  INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  quarantined INTEGER NOT NULL DEFAULT 0,
  updated_at  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE lfs_refs (
  repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
  ref     TEXT NOT NULL,
  oid     TEXT NOT NULL,
  path    TEXT NOT NULL DEFAULT '',
  fetch   INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (repo_id, ref, oid)
) WITHOUT ROWID;

-- "Which repos reference this object", for serving checks and garbage collection.
CREATE INDEX lfs_refs_by_oid ON lfs_refs (oid, repo_id);

ALTER TABLE sync_runs ADD COLUMN lfs_objects INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN lfs_objects_fetched INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN lfs_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN lfs_bytes_fetched INTEGER NOT NULL DEFAULT 0;
)sql";

// The durable sync queue of the embedded backend (storage/sqlite_job_queue.h), upstream
// hosts paused by rate limits, handled webhook deliveries, and what upstreams told us about
// a repository (renamed, archived, deleted: shown in status, never acted on).
constexpr std::string_view kCatalogV3 = R"sql(
CREATE TABLE sync_jobs (
  run_id         INTEGER PRIMARY KEY,
  repo           TEXT NOT NULL,
  "trigger"      TEXT NOT NULL,
  priority       INTEGER NOT NULL,
  queued_at_ms   INTEGER NOT NULL,
  not_before_ms  INTEGER NOT NULL DEFAULT 0,
  pushed_at_ms   INTEGER NOT NULL DEFAULT 0,
  host           TEXT NOT NULL DEFAULT '',
  attempt        INTEGER NOT NULL DEFAULT 1,
  running        INTEGER NOT NULL DEFAULT 0 CHECK (running IN (0, 1)),
  owner          TEXT NOT NULL DEFAULT '',
  lease_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sync_jobs_one_queued_per_repo ON sync_jobs (repo) WHERE running = 0;
CREATE UNIQUE INDEX sync_jobs_one_running_per_repo ON sync_jobs (repo) WHERE running = 1;
CREATE INDEX sync_jobs_claim_order
  ON sync_jobs (priority, not_before_ms, queued_at_ms, run_id) WHERE running = 0;

CREATE TABLE paused_hosts (
  host     TEXT PRIMARY KEY,
  until_ms INTEGER NOT NULL,
  reason   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
  delivery_id TEXT PRIMARY KEY,
  expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_by_expiry ON webhook_deliveries (expires_ms);

ALTER TABLE repos ADD COLUMN upstream_event TEXT NOT NULL DEFAULT '';
ALTER TABLE repos ADD COLUMN upstream_event_at INTEGER NOT NULL DEFAULT 0;
)sql";

// The build stage (deploy/): the digest cache of generated tar layers (one row per layer
// spec: which store objects under which canonical headers, so a rebuild hashes only layers
// whose spec is new), the images and model artifacts served by the registry front end (a
// tag per row, pointing at a manifest stored as a blob under <storage root>/oci/), and the
// blobs each manifest references (what a repository name may serve).
constexpr std::string_view kCatalogV4 = R"sql(
CREATE TABLE tar_layers (
  spec_key   TEXT PRIMARY KEY,
  digest     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  spec       TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX tar_layers_by_digest ON tar_layers (digest);

CREATE TABLE images (
  name       TEXT NOT NULL,
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  media_type TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('image', 'model')),
  build      TEXT NOT NULL DEFAULT '',
  ref        TEXT NOT NULL DEFAULT '',
  "commit"   TEXT NOT NULL DEFAULT '',
  size       INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0,
  built_at   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (name, tag)
) WITHOUT ROWID;
CREATE INDEX images_by_digest ON images (name, digest);

CREATE TABLE manifest_blobs (
  manifest TEXT NOT NULL,
  blob     TEXT NOT NULL,
  PRIMARY KEY (manifest, blob)
) WITHOUT ROWID;
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob, manifest);
)sql";

// LFS objects whose fetches keep failing verification: how many syncs in a row ended so,
// and when the next fetch may be tried (unix seconds; 0: now). Reset when it is present.
constexpr std::string_view kCatalogV5 = R"sql(
ALTER TABLE lfs_objects ADD COLUMN corrupt_streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lfs_objects ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Why a run failed, as typed facts (common/api_types.h RunFailure): the phase ('' when the
// run did not fail), the StatusCodeName, whether it was retryable, and the wait the failing
// side asked for (NULL: none named).
constexpr std::string_view kCatalogV6 = R"sql(
ALTER TABLE sync_runs ADD COLUMN failure_phase TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_runs ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_runs ADD COLUMN failure_retryable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN failure_retry_after INTEGER;
)sql";

// Config as the source of truth (daemon/config_reconciler.h): which repos the config's
// [[repos]] manages ("config") and which were added through the API ("api", what every
// existing repo was), and when a config-managed repo left the config (0: it is in it).
constexpr std::string_view kCatalogV7 = R"sql(
ALTER TABLE repos ADD COLUMN origin TEXT NOT NULL DEFAULT 'api'
  CHECK (origin IN ('config', 'api'));
ALTER TABLE repos ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Build jobs in the same queue and run history as syncs: a job's kind and what a build needs
// (recipe, ref, the commit its trigger saw), with the one-queued / one-running rules over the
// queue key (kind, repo, build, ref) instead of the repo; a run's kind; and a build run's
// result (build_runs: what was built and the manifests it published).
constexpr std::string_view kCatalogV8 = R"sql(
ALTER TABLE sync_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync';
ALTER TABLE sync_jobs ADD COLUMN build TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_jobs ADD COLUMN ref TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_jobs ADD COLUMN "commit" TEXT NOT NULL DEFAULT '';
DROP INDEX sync_jobs_one_queued_per_repo;
DROP INDEX sync_jobs_one_running_per_repo;
CREATE UNIQUE INDEX sync_jobs_one_queued_per_key ON sync_jobs (kind, repo, build, ref)
  WHERE running = 0;
CREATE UNIQUE INDEX sync_jobs_one_running_per_key ON sync_jobs (kind, repo, build, ref)
  WHERE running = 1;

ALTER TABLE sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync'
  CHECK (kind IN ('sync', 'build'));

CREATE TABLE build_runs (
  run_id         INTEGER PRIMARY KEY REFERENCES sync_runs (id) ON DELETE CASCADE,
  build          TEXT NOT NULL,
  ref            TEXT NOT NULL,
  "commit"       TEXT NOT NULL DEFAULT '',
  pushed_at_ms   INTEGER NOT NULL DEFAULT 0,
  image_digest   TEXT NOT NULL DEFAULT '',
  image_size     INTEGER NOT NULL DEFAULT 0,
  model_digest   TEXT NOT NULL DEFAULT '',
  model_size     INTEGER NOT NULL DEFAULT 0,
  tags           TEXT NOT NULL DEFAULT '',
  layers         INTEGER NOT NULL DEFAULT 0,
  hashed_layers  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX build_runs_by_build ON build_runs (build, run_id);
)sql";

// Fencing tokens (storage/job_queue.h QueuedJob::fence): the highest token a repo's writes
// have carried (the catalog refuses a lower one: a node whose lease was taken over), the
// token of each claimed job of the embedded queue, and that queue's token counter.
constexpr std::string_view kCatalogV9 = R"sql(
ALTER TABLE repos ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
CREATE TABLE queue_fence (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  last INTEGER NOT NULL
);
INSERT INTO queue_fence (id, last) VALUES (1, 0);
)sql";

// The Docker schema 2 twin of an image manifest (served to clients that accept only
// application/vnd.docker.distribution.manifest.v2+json): its digest, '' for none (model
// artifacts, images built before this version).
constexpr std::string_view kCatalogV10 = R"sql(
ALTER TABLE images ADD COLUMN docker_digest TEXT NOT NULL DEFAULT '';
CREATE INDEX images_by_docker_digest ON images (name, docker_digest);
)sql";

// Push jobs (issue 14): a run's kind may be 'push' (the CHECK is widened by dropping and
// re-adding the column: SQLite cannot alter a CHECK; every build run has its build_runs row,
// which restores 'build'), and a push run's push_runs row: what it copies where and, once
// finished, what it sent. Its state, times and error (naming the blob) are the sync_runs row's.
constexpr std::string_view kCatalogV11 = R"sql(
ALTER TABLE sync_runs DROP COLUMN kind;
ALTER TABLE sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync'
  CHECK (kind IN ('sync', 'build', 'push'));
UPDATE sync_runs SET kind = 'build' WHERE id IN (SELECT run_id FROM build_runs);

CREATE TABLE push_runs (
  run_id          INTEGER PRIMARY KEY REFERENCES sync_runs (id) ON DELETE CASCADE,
  image           TEXT NOT NULL,
  digest          TEXT NOT NULL,
  model_digest    TEXT NOT NULL DEFAULT '',
  registry        TEXT NOT NULL,
  repository      TEXT NOT NULL,
  tags            TEXT NOT NULL DEFAULT '',
  model_tags      TEXT NOT NULL DEFAULT '',
  bytes_sent      INTEGER NOT NULL DEFAULT 0,
  blobs_skipped   INTEGER NOT NULL DEFAULT 0,
  blobs_mounted   INTEGER NOT NULL DEFAULT 0,
  blobs_uploaded  INTEGER NOT NULL DEFAULT 0,
  uploads_resumed INTEGER NOT NULL DEFAULT 0,
  duration_ms     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_runs_by_image ON push_runs (image, run_id);
)sql";

// Garbage collection of the LFS store (storage/lfs_gc.h): when each object was first seen
// unreferenced by the last mark (0: referenced), and the pins of syncs in progress (objects
// a sync is about to publish a reference to: the sweep keeps them; a pin whose holder died
// expires).
constexpr std::string_view kCatalogV12 = R"sql(
ALTER TABLE lfs_objects ADD COLUMN unreferenced_since INTEGER NOT NULL DEFAULT 0;
CREATE TABLE lfs_pins (
  holder     TEXT NOT NULL,
  oid        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (holder, oid)
) WITHOUT ROWID;
CREATE INDEX lfs_pins_by_oid ON lfs_pins (oid, expires_at);
)sql";

// Read tokens (common/read_token.h): only the SHA-256 of a token is kept; `repos` is the
// JSON array of globs it grants.
constexpr std::string_view kCatalogV13 = R"sql(
CREATE TABLE read_tokens (
  name       TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  repos      TEXT NOT NULL,
  created_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";

constexpr Migration kCatalogMigrations[] = {
    {1, "repos, refs and sync_runs", kCatalogV1},
    {2, "lfs_objects, lfs_refs and LFS run counters", kCatalogV2},
    {3, "sync_jobs, paused_hosts, webhook_deliveries and upstream events", kCatalogV3},
    {4, "tar_layers digest cache, images and manifest_blobs", kCatalogV4},
    {5, "LFS objects: backoff after repeated verification failures", kCatalogV5},
    {6, "typed failures of sync runs", kCatalogV6},
    {7, "repos: managed by the config or the API, retired from the config", kCatalogV7},
    {8, "build jobs and build runs", kCatalogV8},
    {9, "fencing tokens of leases", kCatalogV9},
    {10, "images: Docker schema 2 manifest digests", kCatalogV10},
    {11, "push jobs and push runs", kCatalogV11},
    {12, "LFS garbage collection: unreferenced since, pins of syncs in progress", kCatalogV12},
    {13, "read tokens", kCatalogV13},
};

Status NewerSchemaError(int64_t current, int latest) {
  return FailedPrecondition("schema version " + std::to_string(current) +
                            " is newer than this build supports (" + std::to_string(latest) +
                            "); it was written by a newer mirrord: run that, or restore a "
                            "backup");
}

// On success returns whether `m` was applied by this call (false: someone else did).
Result<bool> ApplyOne(Db& db, const Migration& m, int latest) {
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  // Re-read under the write lock: another process may have migrated since we looked.
  ASSIGN_OR_RETURN(int64_t current, db.QueryInt64("PRAGMA user_version"));
  if (current > latest) return NewerSchemaError(current, latest);
  if (current >= m.version) return false;  // txn rolls back an empty transaction
  if (current != m.version - 1) {
    return Internal("schema version is " + std::to_string(current) + ", expected " +
                    std::to_string(m.version - 1));
  }
  RETURN_IF_ERROR(db.Exec(m.sql));
  {
    ASSIGN_OR_RETURN(Statement check, db.Prepare("PRAGMA foreign_key_check"));
    ASSIGN_OR_RETURN(bool violation, check.Step());
    if (violation) {
      return FailedPrecondition("foreign key violation in table " + check.ColumnText(0));
    }
  }
  // PRAGMA takes no parameters; the version is an integer from our own list.
  RETURN_IF_ERROR(db.Exec("PRAGMA user_version = " + std::to_string(m.version)));
  RETURN_IF_ERROR(txn.Commit());
  return true;
}

}  // namespace

std::span<const Migration> CatalogMigrations() { return kCatalogMigrations; }

Result<int> ApplyMigrations(Db& db, std::span<const Migration> migrations) {
  const int latest = static_cast<int>(migrations.size());
  for (int i = 0; i < latest; ++i) {
    if (migrations[i].version != i + 1) {
      return Internal("migration list is not numbered 1, 2, 3, ...: entry " + std::to_string(i) +
                      " has version " + std::to_string(migrations[i].version));
    }
  }
  ASSIGN_OR_RETURN(int64_t current, db.QueryInt64("PRAGMA user_version"));
  if (current > latest) return NewerSchemaError(current, latest);
  if (current < 0) {
    return DataLoss("schema version " + std::to_string(current) + " is not valid");
  }
  for (int i = static_cast<int>(current); i < latest; ++i) {
    const Migration& m = migrations[i];
    Result<bool> applied = ApplyOne(db, m, latest);
    if (!applied.ok()) {
      return applied.status().WithContext("migration " + std::to_string(m.version) + " (" +
                                          std::string(m.description) + ")");
    }
    if (*applied) {
      MLOG(Info) << "schema migrated to version " << m.version << ": " << m.description;
    }
  }
  return latest;
}

}  // namespace mirrord
