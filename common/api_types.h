// The plain data of the admin API: what a repo is mirrored from, a sync run and its live
// progress, and a repo's status. Shared by mirrord (SyncService, the admin API) and
// mirrorctl (which decodes them from JSON, see common/api_json.h), so it depends on nothing
// but the standard library.
// Thread-safety: value types; copies are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mirrord {

// Where a repo comes from. Exactly one of `upstream` (a configured upstream name, with
// `path` at that upstream, default: the local name) or `url` is set.
struct RepoSpec {
  std::string name;      // local name, validated by ValidateRepoName
  std::string upstream;  // e.g. "github", "hf"
  std::string path;      // e.g. "THUDM/chatglm3-6b"
  std::string url;       // explicit URL, e.g. "https://example.com/x.git"
};

enum class SyncTrigger { kManual, kPoll, kWebhook, kStartup };
// "manual", "poll", "webhook", "startup".
std::string_view SyncTriggerName(SyncTrigger t);

// What asked for a sync, and when the upstream push happened if the trigger says (a
// webhook payload's push time, for push-to-servable latency).
struct TriggerInfo {
  TriggerInfo(SyncTrigger t = SyncTrigger::kManual, int64_t pushed_at_ms_in = 0)  // NOLINT
      : trigger(t), pushed_at_ms(pushed_at_ms_in) {}
  SyncTrigger trigger;
  int64_t pushed_at_ms;  // unix milliseconds; 0: unknown
};

// Live progress of one sync, as shown by `mirrorctl sync`.
struct SyncProgress {
  std::string phase;  // "queued", "connecting", "fetching", "verifying", "lfs-scan", "lfs",
                      // "publishing", "maintenance", "done"
  uint64_t received_objects = 0;
  uint64_t total_objects = 0;
  uint64_t indexed_objects = 0;
  uint64_t received_bytes = 0;
  double bytes_per_second = 0;  // over the last few seconds
  // The LFS phase ("lfs"): objects and bytes the new refs need that the store lacks.
  uint64_t lfs_objects_total = 0;
  uint64_t lfs_objects_done = 0;
  uint64_t lfs_bytes_total = 0;
  uint64_t lfs_bytes_done = 0;      // including what earlier attempts left (resumed)
  double lfs_bytes_per_second = 0;  // over the last few seconds
};

// The step of a job in which it failed. Sync steps, in order: connect (open the mirror,
// reach the upstream), fetch, verify (connectivity of what was fetched), lfs, publish (refs
// and catalog); build jobs fail in "build".
enum class FailurePhase { kConnect, kFetch, kVerify, kLfs, kPublish, kBuild, kPush };
// "connect", "fetch", "verify", "lfs", "publish", "build".
std::string_view FailurePhaseName(FailurePhase p);
// The phase FailurePhaseName names; nullopt for any other text.
std::optional<FailurePhase> FailurePhaseFromName(std::string_view name);

// Why a run failed, as typed facts: retry decisions, metrics labels and `mirrorctl status`
// read these, never the error message.
struct RunFailure {
  FailurePhase phase = FailurePhase::kConnect;
  std::string code;        // StatusCodeName of the failure, e.g. "Unavailable"
  bool retryable = false;  // waiting can heal it: a retry is queued while attempts remain
  // How long the failing side asked us to wait (HTTP Retry-After, a rate limit's reset);
  // nullopt when it named no wait.
  std::optional<int64_t> retry_after_seconds;

  friend bool operator==(const RunFailure&, const RunFailure&) = default;
};

struct SyncRunView {
  int64_t run_id = 0;
  std::string repo;
  std::string trigger;                // SyncTriggerName
  std::string state;                  // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;                  // empty unless failed; never contains credentials
  std::optional<RunFailure> failure;  // set when state is "failed"
  SyncProgress progress;
  int refs_added = 0;
  int refs_updated = 0;
  int refs_deleted = 0;
  uint64_t lfs_objects = 0;          // LFS objects the refs need
  uint64_t lfs_objects_fetched = 0;  // of which this run downloaded
  uint64_t lfs_bytes = 0;
  uint64_t lfs_bytes_fetched = 0;  // LFS bytes this run received from upstream
  int attempt = 1;                 // 2, 3, ...: an automatic retry after failures
  int64_t queued_at = 0;           // unix seconds
  int64_t started_at = 0;          // 0 until running
  int64_t finished_at = 0;         // 0 until finished
};

// True for the states a run never leaves: "succeeded", "failed", "interrupted".
inline bool IsFinalRunState(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "interrupted";
}

struct RepoStatus {
  std::string name;
  std::string upstream;                   // upstream name, or "" for an explicit url
  std::string url;                        // resolved upstream URL, credentials removed
  std::string state;                      // "new", "syncing", "ready", "failed"
  std::optional<SyncRunView> last_run;    // most recent finished run
  std::optional<SyncRunView> active_run;  // queued or running now
  int64_t last_success_at = 0;            // unix seconds; 0: never
  // The most recent failed run (older than last_run when later runs succeeded), and when
  // it ended (unix seconds; 0: never failed).
  std::optional<SyncRunView> last_failure;
  int64_t last_failure_at = 0;
  size_t ref_count = 0;
  std::string head;  // e.g. "refs/heads/main"
  // LFS objects the published refs reference: count and logical bytes, and how much of it
  // the store has; the store's physical size is shared by every repo (deduplicated).
  uint64_t lfs_objects = 0;
  uint64_t lfs_logical_bytes = 0;
  uint64_t lfs_present_objects = 0;
  uint64_t lfs_present_bytes = 0;
  uint64_t lfs_failed_objects = 0;
  uint64_t store_physical_bytes = 0;
  // When mirrord will next look at the upstream without being asked, and why: "retry 2/5"
  // (after failures; not before then), "poll". 0 / "" when nothing is planned.
  int64_t next_attempt_at = 0;
  std::string next_attempt;
  // What the upstream last said about the repository itself ("renamed to org/new",
  // "archived", "deleted", ...), from webhooks; shown, never acted on.
  std::string upstream_event;
  int64_t upstream_event_at = 0;
};

// One queued or running job, as `mirrorctl queue` shows it.
struct QueueJobView {
  int64_t run_id = 0;
  std::string kind = "sync";  // "sync", "build" or "push"
  std::string repo;
  // builds: the [[builds]] name and the full ref name; pushes: "IMAGE@DIGEST" and the
  // [registries] name; "" for syncs.
  std::string build;
  std::string ref;
  std::string trigger;
  std::string state;  // "queued" or "running"
  int attempt = 1;
  std::string node;        // running on this node ("" while queued)
  std::string host;        // upstream host
  int64_t queued_at = 0;   // unix seconds, the first trigger
  int64_t not_before = 0;  // unix seconds; 0: as soon as possible
};

// An upstream host that rate limited us.
struct PausedHostView {
  std::string host;
  int64_t until = 0;  // unix seconds
  std::string reason;
};

// One build job's run, as GET /api/v1/builds/NAME/runs/ID and `mirrorctl build` show it.
struct BuildRunView {
  int64_t run_id = 0;
  std::string build;   // [[builds]] name (the image repository)
  std::string repo;    // the recipe's mirrored repo
  std::string ref;     // full ref name
  std::string commit;  // while queued: the commit its trigger saw; then the one built
  std::string trigger;
  std::string state;                  // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;                  // empty unless failed; never contains credentials
  std::optional<RunFailure> failure;  // set when failed (phase "build")
  int attempt = 1;
  // Live progress: "queued", "starting", "base" (pulling the base image), "model", "layers",
  // "manifests", "publishing", then "done" or the final state.
  std::string phase;
  uint64_t layers_total = 0;  // generated weight layers
  uint64_t layers_done = 0;
  uint64_t bytes_total = 0;  // their bytes
  uint64_t bytes_done = 0;
  uint64_t hashed_layers = 0;  // layers hashed by this build (the others were cached)
  // Set when succeeded: what is served now.
  std::string image_digest;
  uint64_t image_size = 0;
  std::string model_digest;
  uint64_t model_size = 0;
  std::vector<std::string> tags;  // the image's; the model's are these + "-model"
  uint64_t layers = 0;            // image layers
  int64_t queued_at = 0;          // unix seconds
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

// One push job's run, as GET /api/v1/pushes(/ID) and `mirrorctl push` show it.
struct PushRunView {
  int64_t run_id = 0;
  std::string image;         // mirrord's image name
  std::string digest;        // the image manifest pushed
  std::string model_digest;  // its model artifact's, "" for none
  std::string registry;      // [registries] name
  std::string repository;    // destination repository
  std::vector<std::string> tags;
  std::vector<std::string> model_tags;
  std::string repo;  // the mirrored repo the image was built from
  std::string trigger;
  std::string state;                  // "queued", "running", "succeeded", "failed", "interrupted"
  std::string error;                  // empty unless failed: which blob, and why
  std::optional<RunFailure> failure;  // set when failed (phase "push")
  int attempt = 1;
  // Live progress while running (PushProgress of the manifest being pushed).
  uint64_t bytes_total = 0;
  uint64_t bytes_sent = 0;
  uint64_t blobs_total = 0;
  uint64_t blobs_done = 0;
  std::string blob;  // being sent, "" between blobs
  // Set when finished: what was sent.
  uint64_t blobs_skipped = 0;
  uint64_t blobs_mounted = 0;
  uint64_t blobs_uploaded = 0;
  uint64_t uploads_resumed = 0;
  int64_t duration_ms = 0;
  int64_t queued_at = 0;  // unix seconds
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

struct QueueView {
  std::vector<QueueJobView> jobs;  // running first, then in claim order
  std::vector<PausedHostView> paused_hosts;
};

}  // namespace mirrord
