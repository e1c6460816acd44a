// Catalog: mirrord's SQLite database of mirrored repositories, their published refs and
// the history of sync runs. It records what the blob store and the bare mirrors already
// hold; it is written after the data is durable, never before.
//
// Times are Unix seconds (see common/clock.h); 0 means "never".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/api_types.h"
#include "common/status.h"
#include "storage/sqlite.h"

namespace mirrord {

// One row of `repos`.
struct RepoRecord {
  int64_t id = 0;             // assigned by InsertRepo
  std::string name;           // local name, unique
  std::string upstream;       // configured upstream name, or "" with an explicit url
  std::string path;           // the repo's path at the upstream
  std::string url;            // explicit clone URL, or ""
  std::string state = "new";  // "new", "syncing", "ready", "failed"
  std::string head;           // e.g. "refs/heads/main"; "" until the first success
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t last_success_at = 0;
  // The last thing the upstream told us about the repository itself (a GitHub
  // "repository" event: "renamed to org/new", "archived", "deleted", ...); shown, never
  // acted on. "" when none.
  std::string upstream_event;
  int64_t upstream_event_at = 0;
  // Who manages the repo: "config" ([[repos]] of the config file; reconciled at start and
  // reload) or "api" (added by `mirrorctl sync`/the admin API; left alone by reconciling).
  std::string origin = "api";
  // When a config-managed repo left the config (unix seconds): it is no longer synced, its
  // data is kept until `mirrorctl remove` or [sync] retired_retention. 0: not retired.
  int64_t retired_at = 0;
};

// One published ref of a repo.
struct RefRecord {
  std::string name;    // e.g. "refs/heads/main"
  std::string oid;     // hex object id
  std::string peeled;  // for annotated tags: the object the tag points to; else ""
};

// One row of `sync_runs`, with the repo's name joined in when read.
struct SyncRunRecord {
  int64_t id = 0;
  int64_t repo_id = 0;
  std::string repo_name;              // filled by reads; ignored by FinishRun
  std::string trigger;                // "manual", "poll", "webhook", "startup"
  std::string state;                  // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;                  // "" unless failed or interrupted
  std::optional<RunFailure> failure;  // set when failed
  int64_t queued_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  uint64_t received_bytes = 0;
  uint64_t received_objects = 0;
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
  uint64_t lfs_objects = 0;          // LFS objects the new ref set needs (fetched or not)
  uint64_t lfs_objects_fetched = 0;  // of which this run downloaded
  uint64_t lfs_bytes = 0;
  uint64_t lfs_bytes_fetched = 0;  // network bytes of LFS data this run received
};

// One row of `build_runs`: what a build job builds and, once it succeeded, what it
// published. Its state, times and failure are the run's sync_runs row (kind 'build').
struct BuildRunRecord {
  int64_t run_id = 0;
  std::string build;         // [[builds]] name
  std::string ref;           // full ref name
  std::string commit;        // the trigger's commit while queued; the built one once finished
  int64_t pushed_at_ms = 0;  // upstream push time the trigger carried; 0: unknown
  std::string image_digest;
  uint64_t image_size = 0;
  std::string model_digest;
  uint64_t model_size = 0;
  std::vector<std::string> tags;  // the image's tags (the model's are these + "-model")
  int64_t layers = 0;
  int64_t hashed_layers = 0;
};

// One row of `push_runs`: what a push job copies to which registry and, once finished, what
// it sent. Its state, times and error (which blob, and why) are the run's sync_runs row
// (kind 'push'), filled into the fields below by reads.
struct PushRunRecord {
  int64_t run_id = 0;
  std::string image;                    // mirrord's image name
  std::string digest;                   // the image manifest's digest
  std::string model_digest;             // its model artifact's, "" for none
  std::string registry;                 // [registries] name
  std::string repository;               // destination repository
  std::vector<std::string> tags;        // destination tags of the image
  std::vector<std::string> model_tags;  // destination tags of the model artifact
  uint64_t bytes_sent = 0;
  int64_t blobs_skipped = 0;
  int64_t blobs_mounted = 0;
  int64_t blobs_uploaded = 0;
  int64_t uploads_resumed = 0;
  int64_t duration_ms = 0;
  // From sync_runs (ignored by writes):
  std::string repo_name;
  std::string trigger;
  std::string state;
  std::string error;
  int64_t queued_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

// One row of `lfs_objects`: what the catalog knows of an LFS object. The blob store is the
// truth for presence; "present" here is written only after the store published the object.
struct LfsObjectRecord {
  std::string oid;
  uint64_t size = 0;
  std::string state = "pending";  // "pending", "present", "failed"
  std::string error;              // last failure, "" if none
  int error_code = 0;             // upstream per-object error (404, 410, 422), 0 if none
  int attempts = 0;               // downloads started
  int quarantined = 0;            // times downloaded data failed verification
  int64_t updated_at = 0;
  // Syncs in a row whose fetches of it all failed verification, and when the next fetch may
  // be tried (unix seconds; 0: any time). Both reset when it becomes present.
  int corrupt_streak = 0;
  int64_t retry_at = 0;
};

// One LFS object referenced by a published ref of a repo.
struct LfsRefRecord {
  std::string ref;  // e.g. "refs/heads/main"
  std::string oid;
  uint64_t size = 0;
  std::string path;   // a path where the ref's tree has the pointer
  bool fetch = true;  // false: excluded by the repo's filters, fetched on first request
};

// LFS totals of one repo's published refs.
struct LfsRepoUsage {
  uint64_t objects = 0;          // distinct objects referenced
  uint64_t logical_bytes = 0;    // their total size
  uint64_t present_objects = 0;  // of which in the store
  uint64_t present_bytes = 0;
  uint64_t failed_objects = 0;  // whose last download failed and that are not present
};

// A generated tar layer of the build stage (deploy/tar_layer.h): the canonical spec it is
// generated from, keyed by the spec's SHA-256, with the layer's digest and size. A cache:
// the spec regenerates the same bytes, so a lost row only costs one hashing pass.
struct TarLayerRecord {
  std::string spec_key;  // 64 hex: SHA-256 of `spec`
  std::string digest;    // "sha256:<hex>" of the generated layer
  uint64_t size = 0;
  std::string spec;  // canonical JSON (TarLayer::SpecJson)
  int64_t created_at = 0;
};

// One tag of the registry front end: a repository name, a tag and the manifest it names
// (stored as a blob under <storage root>/oci/blobs/).
struct ImageRecord {
  std::string name;            // distribution repository name, e.g. "glm-4v"
  std::string tag;             // e.g. "main", a commit id, "main-model"
  std::string digest;          // "sha256:<hex>" of the manifest bytes
  std::string media_type;      // the manifest's media type
  std::string kind = "image";  // "image" (runnable) or "model" (ModelPack artifact)
  std::string build;           // the [[builds]] name that made it
  std::string ref;             // e.g. "refs/heads/main"
  std::string commit;          // the commit id built
  uint64_t size = 0;           // manifest + config + layers, bytes
  int64_t created_at = 0;      // commit time
  int64_t built_at = 0;
  // The Docker schema 2 twin of the manifest (same config and layers, Docker media types),
  // served to clients that accept only that type; "" when there is none.
  std::string docker_digest;
};

// One read token (common/read_token.h): its name, the globs it grants and when it was
// made. The token itself is never stored, only its hash.
struct ReadTokenRecord {
  std::string name;
  std::string token_hash;          // HashReadToken(token)
  std::vector<std::string> repos;  // repository globs (common/repo_glob.h)
  int64_t created_at = 0;
};

// What a collection after retention may remove (Catalog::FindUnlistedBlobs): digests that
// only unlisted manifests referenced, and those manifests' own digests.
struct UnlistedBlobs {
  std::vector<std::string> manifests;  // manifests no tag names any more
  std::vector<std::string> blobs;      // them and their blobs that no listed manifest uses
};

// Garbage collection of the LFS store (storage/catalog_gc.cc, storage/lfs_gc.h).
// What the last mark found: objects referenced (by a repo's published refs, an image's
// layers or a sync's pin) and the others, with their bytes (the recorded sizes).
struct LfsGcMark {
  uint64_t referenced_objects = 0;
  uint64_t referenced_bytes = 0;
  uint64_t unreferenced_objects = 0;
  uint64_t unreferenced_bytes = 0;
};

// An object unreferenced since `unreferenced_since` (unix seconds) at the last mark.
struct LfsGcCandidate {
  std::string oid;
  uint64_t size = 0;
  std::string state;  // lfs_objects.state
  int64_t unreferenced_since = 0;
};

// The catalog of one mirrord instance. Opening applies any missing schema migrations.
// Errors are translated by SqliteError: disk full is ResourceExhausted, a database locked
// by another process beyond the busy timeout is Unavailable.
// Thread-safety: all methods are thread-safe; they share one connection guarded by a mutex,
// so calls are serialised (they are short; run them off network threads).
class Catalog {
 public:
  // Opens `file`, creating it if missing (its directory must exist: NotFound otherwise),
  // sets WAL journaling, synchronous=FULL, foreign keys and a busy timeout, and migrates
  // it to the latest schema. A file written by a newer mirrord (a higher schema version)
  // is refused with FailedPrecondition and left untouched.
  static Result<std::unique_ptr<Catalog>> Open(const std::filesystem::path& file);

  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // The schema version of the open file.
  int schema_version() const { return schema_version_; }

  // ---- repos ----

  // Inserts `repo` (its id is ignored; an empty state means "new"). On success returns the
  // stored record with its new id. AlreadyExists if the name is taken; InvalidArgument for
  // an empty name or an unknown state.
  Result<RepoRecord> InsertRepo(const RepoRecord& repo);

  // NotFound if no repo has that name.
  Result<RepoRecord> GetRepo(std::string_view name);

  // All repos, ordered by name.
  Result<std::vector<RepoRecord>> ListRepos();
  // Number of repositories in each state ("new", "syncing", "ready", "failed").
  Result<std::map<std::string, int64_t>> CountReposByState();

  // Removes the repo with its refs and runs. NotFound if no repo has that name.
  Status DeleteRepo(std::string_view name);

  // Sets the state ("new", "syncing", "ready", "failed") and updated_at. NotFound for an
  // unknown id; InvalidArgument for an unknown state.
  //
  // Fencing (storage/repo_fence.h): the writes a sync run makes to its repo's state
  // (SetRepoState, ReplaceRefs, MarkRunStarted, FinishRun) take the run's lease token
  // `fence`. In the same transaction as the write, a token below the repo's recorded fence
  // is refused with Cancelled and nothing is written (the lease was taken over); otherwise
  // the fence is raised to it. 0: unfenced (no lease: tools, tests).
  Status SetRepoState(int64_t repo_id, std::string_view state, int64_t now, int64_t fence = 0);

  // Cancelled when repo `repo_id`'s fence is above `fence` (its lease was taken over):
  // read-only, for a check made under another lock (ref publication, PublishRefs).
  Status CheckFence(int64_t repo_id, int64_t fence);

  // ---- refs ----

  // Replaces the repo's whole ref set with `refs` and records a successful publication:
  // head, state "ready", last_success_at = updated_at = now; with `lfs_refs`, also replaces
  // the LFS objects the refs reference (the objects must already be in lfs_objects). All or
  // nothing: on failure the previous refs, LFS references and repo row are unchanged.
  // NotFound for an unknown id; InvalidArgument for a ref with an empty name or oid, or a
  // name given twice; Cancelled for a stale `fence` (see SetRepoState).
  Status ReplaceRefs(int64_t repo_id, const std::vector<RefRecord>& refs, std::string_view head,
                     int64_t now, const std::vector<LfsRefRecord>* lfs_refs = nullptr,
                     int64_t fence = 0);

  // The repo's refs ordered by name (empty for an unknown id).
  Result<std::vector<RefRecord>> GetRefs(int64_t repo_id);

  // How many refs the repo has (0 for an unknown id).
  Result<size_t> CountRefs(int64_t repo_id);

  // ---- LFS objects (storage/catalog_lfs.cc) ----

  // Records objects not yet known as "pending" with their size; known ones are unchanged.
  // InvalidArgument for an empty oid.
  Status AddLfsObjects(const std::vector<LfsObjectRecord>& objects, int64_t now);

  // NotFound if the catalog does not know the object.
  Result<LfsObjectRecord> GetLfsObject(std::string_view oid);

  // The object is in the blob store: state "present", error cleared.
  Status MarkLfsObjectPresent(std::string_view oid, int64_t now);
  // A download failed: state "failed" with the error (and the upstream's per-object code,
  // if any). A later success overrides it.
  Status MarkLfsObjectFailed(std::string_view oid, std::string_view error, int error_code,
                             int64_t now);
  // Counts a download start, and a verification failure whose data went to quarantine.
  Status CountLfsAttempt(std::string_view oid, int64_t now);
  Status CountLfsQuarantine(std::string_view oid, int64_t now);
  // Records that a fetch of `oid` failed verification again (after the downloader's own
  // refetches): the streak grows by one; from the second in a row on, the next fetch is
  // allowed `first_delay` << (streak - 2) seconds from `now`, at most `max_delay` (after the
  // first, at once: retry_at 0). Returns the updated record.
  // NotFound if the object is not in the catalog.
  Result<LfsObjectRecord> RecordLfsCorruption(std::string_view oid, int64_t now,
                                              int64_t first_delay, int64_t max_delay);

  // The reference of `oid` by the repo's published refs, if any (the first by ref name).
  // A repo's LFS clients may get only objects for which this is set.
  Result<std::optional<LfsRefRecord>> FindLfsRef(int64_t repo_id, std::string_view oid);
  // The repo's LFS references ordered by ref, then oid.
  Result<std::vector<LfsRefRecord>> GetLfsRefs(int64_t repo_id);
  Result<LfsRepoUsage> GetLfsUsage(int64_t repo_id);

  // ---- LFS garbage collection (storage/catalog_gc.cc) ----
  //
  // An object is referenced while any of these holds: a repo's published refs reference it
  // (lfs_refs, whatever the repo's filters: an object filtered out is still served), a
  // manifest recorded in manifest_blobs uses it (a raw model layer "sha256:<oid>", or a
  // generated tar layer whose tar_layers spec names the oid), or a pin that has not expired
  // names it. Every manifest in manifest_blobs counts, listed or not: an unlisted one's rows
  // are dropped by the image collector, and until then keeping its objects is the safe side.

  // Pins `oids` for `holder` (a sync about to publish references to them) until
  // `expires_at` (unix seconds; a pin whose holder died lapses then). Pinning again renews.
  // The sweep keeps a pinned object; a sweep that committed before the pin has already
  // taken the object out of the store, so the holder, which checks the store after pinning,
  // fetches it again. InvalidArgument for an empty holder or oid.
  Status PinLfsObjects(std::string_view holder, const std::vector<std::string>& oids,
                       int64_t expires_at);
  // Drops every pin of `holder` (none: OK).
  Status UnpinLfsObjects(std::string_view holder);

  // The mark: in one transaction, every lfs_objects row referenced now gets
  // unreferenced_since 0, and every other row without one gets `now`. Returns the counts.
  Result<LfsGcMark> MarkLfsObjects(int64_t now);
  // Rows whose unreferenced_since is set and at most `cutoff`, oldest first, at most
  // `limit` (0: all). Read-only: a candidate is only swept after SweepLfsObject's re-check.
  Result<std::vector<LfsGcCandidate>> ListLfsGcCandidates(int64_t cutoff, size_t limit = 0);
  // The sweep of one object, all under the catalog's lock and in one transaction: the
  // object is re-checked (still recorded, unreferenced_since set and at most `cutoff`, no
  // reference as defined above at `now`); if it qualifies, `remove_data` runs (it takes the
  // object's file out of the store) and the row is deleted. Returns true when swept; false
  // when the re-check kept it (nothing done). When `remove_data` fails the row stays and its
  // Status is returned. Every catalog call of another thread (a pin, a publication) waits
  // for the sweep's lock, so a publication either came first (the re-check sees it) or
  // comes after the data is gone (and the publisher's pin-then-check fetches it again).
  Result<bool> SweepLfsObject(std::string_view oid, int64_t cutoff, int64_t now,
                              const std::function<Status()>& remove_data);
  // The object's data left the store (quarantined at rest): state "pending" until a fetch
  // brings it back (MarkLfsObjectPresent) or fails (MarkLfsObjectFailed then records the
  // upstream's verdict, which the LFS API answers). NotFound if the catalog lacks it.
  Status MarkLfsObjectMissing(std::string_view oid, int64_t now);
  // A repo whose published refs reference `oid` (the first by name) and that reference:
  // where verification at rest fetches a corrupt object again from. nullopt when no repo
  // references it.
  Result<std::optional<std::pair<std::string, LfsRefRecord>>> FindLfsReferrer(std::string_view oid);

  // ---- build stage (storage/catalog_images.cc) ----

  // The cached layer for `spec_key`, or nullopt.
  Result<std::optional<TarLayerRecord>> GetTarLayer(std::string_view spec_key);
  // A cached layer whose digest is `digest` (any, if several specs give the same bytes).
  Result<std::optional<TarLayerRecord>> FindTarLayerByDigest(std::string_view digest);
  // Records a layer; a row already present for its spec_key is kept (the spec fixes the
  // bytes, so both rows say the same). InvalidArgument for an empty key, digest or spec.
  Status PutTarLayer(const TarLayerRecord& layer);

  // Publishes `tags` (all for one manifest digest each), with `blobs` = the digests every
  // manifest among them references (config, layers), in one transaction: a tag that existed
  // now names the new manifest. InvalidArgument for an empty name, tag or digest, or a kind
  // other than "image"/"model". All or nothing.
  Status PutImages(const std::vector<ImageRecord>& tags,
                   const std::vector<std::pair<std::string, std::string>>& manifest_blobs);
  // NotFound if `name` has no tag `tag`.
  Result<ImageRecord> GetImage(std::string_view name, std::string_view tag);
  // The tags of `name` ordered by tag (byte order), starting after `after` when not empty,
  // at most `limit` (0: all).
  Result<std::vector<ImageRecord>> ListImages(std::string_view name, std::string_view after = {},
                                              size_t limit = 0);
  // Repository names that have at least one tag, ordered, after `after`, at most `limit`.
  Result<std::vector<std::string>> ListImageNames(std::string_view after = {}, size_t limit = 0);
  // A tag of `name` whose manifest (digest) or Docker twin (docker_digest) is `digest`,
  // else nullopt.
  Result<std::optional<ImageRecord>> FindManifest(std::string_view name, std::string_view digest);
  // True when `digest` is a manifest of `name` or a blob such a manifest references: what
  // the registry may serve under that name.
  Result<bool> NameReferencesBlob(std::string_view name, std::string_view digest);

  // ---- read tokens (storage/catalog_tokens.cc) ----

  // Records a new token. AlreadyExists when a token of that name exists (or, never in
  // practice, one with the same hash); InvalidArgument for an empty name, hash or glob list.
  Status InsertReadToken(const ReadTokenRecord& token);
  // All tokens ordered by name.
  Result<std::vector<ReadTokenRecord>> ListReadTokens();
  // The token whose hash is `token_hash`, or nullopt.
  Result<std::optional<ReadTokenRecord>> FindReadToken(std::string_view token_hash);
  // Deletes the token `name`; NotFound when there is none.
  Status DeleteReadToken(std::string_view name);

  // ---- build runs (storage/catalog_build_runs.cc) ----

  // Records a new build run in state "queued" (a sync_runs row of kind 'build' for the
  // recipe's repo `repo_id`, plus its build_runs row), in one transaction. On success
  // returns its id, from the same sequence as sync runs. NotFound for an unknown repo id.
  Result<int64_t> InsertBuildRun(int64_t repo_id, std::string_view trigger, int64_t queued_at,
                                 const BuildRunRecord& build);
  // Writes what build run `build.run_id` built (commit, digests, sizes, tags, layers).
  // NotFound when it is not a build run.
  Status RecordBuildResult(const BuildRunRecord& build);
  // NotFound when `run_id` is not a build run.
  Result<BuildRunRecord> GetBuildRun(int64_t run_id);
  // Retention, step 1 (unlist): of the commits build `build` made images of for `ref`,
  // the `keep` most recently built stay; every tag (image and model) of the older ones is
  // removed, in one transaction. Returns the removed rows (empty: nothing to drop). The
  // manifests' manifest_blobs rows stay: they tell the collector what to remove.
  // InvalidArgument for keep < 1.
  Result<std::vector<ImageRecord>> UnlistOldImages(std::string_view build, std::string_view ref,
                                                   size_t keep);
  // Retention, step 2 (collect): manifests recorded in manifest_blobs that no tag names
  // (digest or docker_digest), and the digests only they reference. Read-only.
  Result<UnlistedBlobs> FindUnlistedBlobs();
  // Drops the tar_layers cache rows of `digests` and the manifest_blobs rows of
  // `manifests`, in one transaction; a manifest a tag names again meanwhile, and a digest
  // a listed manifest references, are kept. Call after the blob files are gone, so that
  // a crash in between leaves the rows that make the next collection finish the job.
  Status ForgetUnlisted(const UnlistedBlobs& unlisted);

  // ---- push runs (storage/catalog_push_runs.cc) ----

  // Records a new push run in state "queued" (a sync_runs row of kind 'push' for `repo_id`,
  // the repo the image was built from, plus its push_runs row), in one transaction. On
  // success returns its id. NotFound for an unknown repo id.
  Result<int64_t> InsertPushRun(int64_t repo_id, std::string_view trigger, int64_t queued_at,
                                const PushRunRecord& push);
  // A new queued push run copying what push run `from` pushes (a retry). NotFound when
  // `from` is not a push run.
  Result<int64_t> CopyPushRun(int64_t from, std::string_view trigger, int64_t queued_at);
  // Adds the tags of `push` missing from push run `push.run_id` (a trigger coalesced into
  // it). NotFound when it is not a push run.
  Status AddPushTags(const PushRunRecord& push);
  // Writes what push run `push.run_id` sent (bytes, blob counts, duration). NotFound when it
  // is not a push run.
  Status RecordPushResult(const PushRunRecord& push);
  // NotFound when `run_id` is not a push run.
  Result<PushRunRecord> GetPushRun(int64_t run_id);
  // The newest push runs first, at most `limit` (0: 100); only image `image`'s when not empty.
  Result<std::vector<PushRunRecord>> ListPushRuns(std::string_view image, size_t limit);

  // ---- sync runs ----
  // (The generic run calls below — MarkRunStarted, FinishRun, RequeueRun, DeleteQueuedRun,
  // GetRun, UnfinishedRuns — apply to build runs too; LastFinishedRun is syncs only.)

  // Records a new run in state "queued". On success returns its id, never reused.
  // NotFound for an unknown repo id.
  Result<int64_t> InsertRun(int64_t repo_id, std::string_view trigger, int64_t queued_at);

  // Moves a queued run to "running" with started_at = now. NotFound for an unknown id;
  // FailedPrecondition if the run is not queued; Cancelled for a stale `fence` (see
  // SetRepoState; a run's first fenced write, so it raises the repo's fence to the token).
  Status MarkRunStarted(int64_t run_id, int64_t now, int64_t fence = 0);

  // Finishes run `run.id`: writes state (which must be "succeeded", "failed" or
  // "interrupted", else InvalidArgument), error, finished_at and the transfer counters.
  // NotFound for an unknown id; FailedPrecondition if the run already finished (a finished
  // run is never rewritten); Cancelled for a stale `fence` (see SetRepoState).
  Status FinishRun(const SyncRunRecord& run, int64_t fence = 0);

  // Puts a running run back to "queued" (started_at = 0): its job was requeued after its
  // node stopped. A queued run is left as it is. NotFound for an unknown id;
  // FailedPrecondition if the run already finished. With `fence_floor` > 0 (one more than the
  // lost lease's token), the repo's fence is raised to at least that in the same
  // transaction: the node that lost the lease can write nothing from then on.
  Status RequeueRun(int64_t run_id, int64_t fence_floor = 0);

  // Deletes a run that never started (a trigger that coalesced into another run).
  // FailedPrecondition if it is not queued; NotFound for an unknown id.
  Status DeleteQueuedRun(int64_t run_id);

  // Re-points repository `repo_id` at another source (RepoRecord's upstream/path/url).
  // NotFound when there is no such repo.
  Status SetRepoSource(int64_t repo_id, std::string_view upstream, std::string_view path,
                       std::string_view url, int64_t now);
  // Sets who manages repository `repo_id` ("config" or "api", else InvalidArgument) and
  // when it left the config (0: it did not). NotFound when there is no such repo.
  Status SetRepoOrigin(int64_t repo_id, std::string_view origin, int64_t retired_at);

  // Records what the upstream said about repository `repo_id` (see RepoRecord).
  Status SetUpstreamEvent(int64_t repo_id, std::string_view event, int64_t now);

  // NotFound for an unknown id.
  Result<SyncRunRecord> GetRun(int64_t run_id);

  // The repo's most recent sync run (not build run) in a final state, if any.
  Result<std::optional<SyncRunRecord>> LastFinishedRun(int64_t repo_id);
  // The repo's most recent failed run, if any (an older one when runs succeeded since).
  Result<std::optional<SyncRunRecord>> LastFailedRun(int64_t repo_id);

  // Every queued or running run, oldest first: the work a restarted daemon must account for.
  Result<std::vector<SyncRunRecord>> UnfinishedRuns();

  // Startup recovery after an unclean stop, in one transaction: every "running" run becomes
  // "interrupted" with `error` and finished_at = now, and every repo left "syncing" goes back
  // to "ready" if it was ever synced, else "new". Queued runs are left for the job queue.
  // On success returns how many runs were interrupted; on failure nothing changed.
  Result<int> MarkRunningRunsInterrupted(int64_t now, std::string_view error);

 private:
  Catalog(Db db, int schema_version) : db_(std::move(db)), schema_version_(schema_version) {}
  // Replaces the repo's lfs_refs rows; the caller holds mu_ and a transaction.
  Status ReplaceLfsRefsLocked(int64_t repo_id, const std::vector<LfsRefRecord>& lfs_refs);
  Status UpdateLfsObject(std::string_view oid, std::string_view sql_set, int64_t now);
  // The oids the image tables reference (see the GC section); the caller holds mu_.
  Result<std::set<std::string, std::less<>>> ImageReferencedOidsLocked();

  std::mutex mu_;
  Db db_;  // guarded by mu_
  const int schema_version_;
};

}  // namespace mirrord
