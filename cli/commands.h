// mirrorctl's commands, one per file (command_<name>.cc). main.cc parses the command line
// and calls Run*Command with the parsed arguments; the commands talk to mirrord through
// ApiClient and write to CommandIo.
//
// Conventions every command follows (new commands inherit them by using what is here):
//   - Global flags (main.cc, parsed before or after the command name): --json, --server,
//     --token, --config. A command reads them from CommandIo (json) and gets its ApiClient
//     from RunWithClient (server and token, see cli/cli_context.h for the precedence).
//   - With io.json, a command prints exactly one JSON document on stdout (PrintJson) and
//     nothing else there; its field names are a contract (README, "mirrorctl --json").
//     Errors still go to stderr as one "mirrorctl: ..." line, and the exit code says what
//     happened.
//   - Messages name what the user can act on, never internal status names
//     ("FailedPrecondition: ..."): use Status::message(), ReportError, ReportApiError.
//   - Exit codes (ExitCode below, listed in `mirrorctl --help`): ExitCodeFor maps a failed
//     Status, ReportApiError a non-2xx answer.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/cli_context.h"
#include "common/api_types.h"
#include "common/clock.h"

namespace mirrord {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,       // the operation failed: a sync failed, mirrord refused the request
  kExitUsage = 2,        // bad arguments, unknown command, a needed --yes missing
  kExitUnreachable = 3,  // mirrord cannot be reached, or the admin token is missing or refused
  kExitNotFound =
      4,  // no such repository (on mirrord, or upstream for a new name), recipe, ref or image
};

// "0.1.0": the project version mirrorctl was built from.
std::string_view MirrorctlVersion();

// The text `mirrorctl --help` ends with: every exit code and what it means.
std::string ExitCodesHelp();

struct CommandIo {
  std::ostream& out;
  std::ostream& err;
  bool out_is_tty = false;
  bool err_is_tty = false;  // io.err is a terminal (progress lines are redrawn in place)
  const Clock& clock = SystemClock::Instance();
  bool json = false;           // --json: one JSON document on `out`, no human text there
  std::istream* in = nullptr;  // where confirmations are read; nullptr: none possible
  bool in_is_tty = false;      // `in` is a terminal (a person can answer)
};

// Resolves the daemon and the admin token from `flags` (cli/cli_context.h) and runs
// `command` with a client for it; reports why there is none otherwise (kExitUsage for a bad
// flag or config file, kExitUnreachable for a missing token).
int RunWithClient(const CliFlags& flags, CommandIo& io,
                  const std::function<int(ApiClient&)>& command);

// Writes `v` and a newline to io.out; returns kExitOk.
int PrintJson(CommandIo& io, const boost::json::value& v);

// The exit code for a failed Status: NotFound kExitNotFound; InvalidArgument kExitUsage;
// Unavailable, DeadlineExceeded and PermissionDenied (what a failed ApiClient call carries:
// mirrord unreachable, token refused) kExitUnreachable; anything else kExitFailed.
int ExitCodeFor(const Status& status);
// Prints "mirrorctl: [<context>: ]<message>" and returns ExitCodeFor(status).
int ReportError(const Status& status, std::string_view context, CommandIo& io);

// Prints "mirrorctl: <message>" to io.err and returns kExitUnreachable; for a failed
// ApiClient call.
int ReportUnreachable(const Status& status, CommandIo& io);
// Prints "mirrorctl: <context>: <message>" (or without context) for a non-2xx reply and
// returns kExitNotFound for 404, kExitUsage for 400, else kExitFailed.
int ReportApiError(const ApiReply& reply, std::string_view context, CommandIo& io);

// Age of a unix time relative to `now`: "just now", "42s ago", "5m ago", "3h ago",
// "2d ago"; "never" for 0.
std::string FormatAge(int64_t unix_seconds, int64_t now);
// "2026-11-23 10:00:00 UTC"; "never" for 0.
std::string FormatTimestamp(int64_t unix_seconds);

// sync NAME [--upstream U [--path P] | --url URL] [--no-follow]
struct SyncArgs {
  std::string name;
  std::string upstream;
  std::string path;
  std::string url;
  bool no_follow = false;
};
// The source a new NAME is mirrored from when the command names none, as `gh repo clone`
// would read it: "hf/OWNER/NAME" from the Hugging Face upstream "hf" at OWNER/NAME,
// anything else from "github" at NAME. With --upstream U and no --path, the path is NAME
// without a leading "U/" (so `sync hf/org/model --upstream hf` means org/model).
RepoSpec InferRepoSpec(const SyncArgs& args, std::string_view validated_name);

// Makes sure the repo exists (registering it when the name is new, from InferRepoSpec; an
// existing repo with another source is an error), requests a sync and, unless no_follow,
// shows its progress until it ends. A repo this command registered whose first sync finds
// no repository at the upstream (NotFound, or 401/403: missing or private) is removed again
// and the user told so (kExitNotFound); with no_follow nothing is waited for, so a new name
// is kept whatever its first sync finds (and the user is told so). Returns kExitOk when the sync
// succeeded (or was queued, with no_follow), kExitFailed with "mirrord: sync of NAME failed:
// <error>" on stderr when it failed. With io.json: {"name", "added", "removed", "run":
// SyncRunView}.
int RunSyncCommand(ApiClient& client, const SyncArgs& args, CommandIo& io);

// list: a table NAME STATE LAST-SUCCESS LAST-FAILURE REFS UPSTREAM; with io.json the admin
// API's {"repos": [RepoStatus...]}.
int RunListCommand(ApiClient& client, CommandIo& io);
// The table, header first, columns padded to their widest cell.
std::string FormatRepoTable(const std::vector<RepoStatus>& repos, int64_t now);

// status [NAME]: with io.json, RepoStatus for NAME, {"repos": [RepoStatus...]} for all.
struct StatusArgs {
  std::string name;  // empty: every repo
};
int RunStatusCommand(ApiClient& client, const StatusArgs& args, CommandIo& io);
// The human view of one repo (several lines, newline-terminated).
std::string FormatRepoStatus(const RepoStatus& repo, int64_t now);

// remove NAME [--yes] [--purge]
struct RemoveArgs {
  std::string name;
  bool yes = false;
  // Also free at once the repo's LFS objects no other repo or image references
  // (POST /api/v1/gc/purge?repo=NAME instead of DELETE /api/v1/repos/NAME).
  bool purge = false;
};
// Asks "Remove NAME ...? [y/N]" on io.err and reads the answer from io.in unless args.yes;
// without a terminal to ask (io.in_is_tty false) it refuses with kExitUsage and deletes
// nothing. An answer other than y/yes deletes nothing (kExitFailed). With io.json:
// {"name", "removed": true} (with --purge, also "purge": the gc answer).
int RunRemoveCommand(ApiClient& client, const RemoveArgs& args, CommandIo& io);
// What RunRemoveCommand refuses before asking mirrord anything: a bad name, or no --yes
// without a terminal (kExitUsage, one line on io.err). nullopt when the removal may go on;
// main.cc runs it before resolving the server and token.
std::optional<int> RefuseUnconfirmableRemove(const RemoveArgs& args, CommandIo& io);
// True for "y" and "yes" (any case, surrounding blanks ignored).
bool IsYes(std::string_view answer);

// queue: what is queued and running (every node), and paused upstream hosts; with io.json
// the admin API's QueueView.
int RunQueueCommand(ApiClient& client, CommandIo& io);
std::string FormatQueue(const QueueView& queue, int64_t now);

// build NAME [--ref R] [--no-follow]
struct BuildArgs {
  std::string name;  // a [[builds]] name
  std::string ref;   // full ref name; empty: the repo's default branch
  bool no_follow = false;
};
// Queues a build (POST /api/v1/builds/NAME) and, unless no_follow, shows its progress until
// it ends. Returns kExitOk when the image is served (printing each tag with its digest),
// kExitFailed with "mirrord: build NAME of REF failed: <error>" on stderr when it failed.
int RunBuildCommand(ApiClient& client, const BuildArgs& args, CommandIo& io);
// "[layers] 2/5 weight layers  1.2 GiB of 4.0 GiB  1 hashed".
std::string FormatBuildProgress(const BuildRunView& run);
// The summary line, then "NAME:TAG  DIGEST" per image tag and per model tag.
std::string FormatBuildResult(const BuildRunView& run);

// push NAME:TAG REGISTRY [--no-follow]
struct PushArgs {
  std::string image;     // NAME:TAG, as `mirrorctl images` lists it
  std::string registry;  // a [registries] name
  bool no_follow = false;
};
// Queues a push (POST /api/v1/images/NAME:TAG/push) and, unless no_follow, shows its
// progress until it ends. Returns kExitOk when every tag is pushed (printing each
// destination tag with its digest), kExitFailed with "mirrord: push of NAME:TAG to REGISTRY
// failed: <error>" on stderr when it failed, kExitNotFound for an unknown image, tag or
// registry, kExitUsage for a malformed NAME:TAG. With io.json: the final PushRunView (with
// no_follow, the queued answer).
int RunPushCommand(ApiClient& client, const PushArgs& args, CommandIo& io);
// Splits "NAME:TAG" (the tag after the last ':'); false unless both are valid.
bool SplitImageTag(std::string_view ref, std::string* name, std::string* tag);
// "[running] 2/5 blobs  1.2 GiB of 4.0 GiB  sha256:0123456789ab".
std::string FormatPushProgress(const PushRunView& run);
// The summary line, then "REGISTRY/REPOSITORY:TAG  DIGEST" per image and model tag.
std::string FormatPushResult(const PushRunView& run);

// The known command closest to `typed` (edit distance at most 2, or `typed` a prefix of
// exactly one); "" when none is close.
std::string SuggestCommand(std::string_view typed, const std::vector<std::string>& known);
// images [NAME]: tags, digests, sizes, commits and ages of the built images, the GPU need,
// and the docker pull / docker run lines (cli/command_images.cc); with io.json the admin
// API's answer.
struct ImagesArgs {
  std::string name;  // empty: every image repository and recipe
};
int RunImagesCommand(ApiClient& client, const ImagesArgs& args, CommandIo& io);
// The human view of GET /api/v1/images's answer.
std::string FormatImages(const boost::json::value& answer, int64_t now);

// image export NAME:TAG -o FILE (cli/command_image.cc)
struct ImageExportArgs {
  std::string ref;     // NAME:TAG
  std::string output;  // FILE, or "-" for stdout
};
struct ImageRefArg {
  std::string name;
  std::string tag;
};
// "lab/glm-4:main" split at its last ':'; InvalidArgument without a tag or for an invalid
// name or tag.
Result<ImageRefArg> ParseImageRefArg(std::string_view ref);
// Streams GET /api/v1/images/NAME:TAG/archive (an OCI archive that skopeo's oci-archive: and
// `docker load` read) into a temporary file beside FILE, renamed to FILE once complete and
// fsynced (nothing is left behind on failure), or to io.out for "-" (refused on a terminal
// or with --json). Progress on io.err. kExitNotFound for an unknown image; with io.json:
// {"name", "tag", "digest", "file", "size"}.
int RunImageExportCommand(ApiClient& client, const ImageExportArgs& args, CommandIo& io);

// backup DIR (cli/command_backup.cc)
struct BackupArgs {
  std::string dir;  // on mirrord's host; made absolute against mirrorctl's working directory
};
// Asks mirrord for a backup into DIR (POST /api/v1/backup, NDJSON progress) and follows it
// to the end: kExitOk with a one-line summary (io.json: mirrord's last line, {"done": true,
// "dir", "repos", "refs", "lfs_objects", "oci_blobs", "files", "bytes", "linked",
// "created_at"}), kExitFailed when the backup failed (DIR not empty, a disk error...).
int RunBackupCommand(ApiClient& client, const BackupArgs& args, CommandIo& io);
// "[mirrors] 3/10 mirrors  1200 files  4.5 GiB" from a progress line.
std::string FormatBackupProgress(const boost::json::object& line);
// token create NAME --repos GLOB... | token list | token revoke NAME: read tokens
// (cli/command_token.cc, /api/v1/tokens of daemon/tokens_api.h). create prints the token
// once (with io.json, the API's answer: {"name", "repos", "created_at", "token"}); list never
// shows tokens; revoke takes effect at once.
struct TokenArgs {
  std::string action;  // "create", "list" or "revoke"
  std::string name;
  std::vector<std::string> repos;
};
int RunTokenCommand(ApiClient& client, const TokenArgs& args, CommandIo& io);

// Rows as a table: columns padded to their widest cell, two spaces apart, no trailing blanks.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// gc [--dry-run] [--grace DURATION]: POST /api/v1/gc (daemon/gc_api.h). Prints what was (or,
// dry, would be) removed and how many bytes, per LFS object and per mirror; with io.json the
// admin API's answer. kExitUsage for a bad --grace (refused by mirrord).
struct GcArgs {
  bool dry_run = false;
  std::string grace;  // "" : [gc] grace
};
int RunGcCommand(ApiClient& client, const GcArgs& args, CommandIo& io);
// The human view of the gc answer (also `remove --purge`'s).
std::string FormatGcOutcome(const boost::json::value& answer);

// verify [NAME]: POST /api/v1/verify (daemon/verify_api.h): git fsck of the mirror(s) and a
// re-hash of the LFS objects. kExitOk when nothing is wrong or every corrupt object was
// fetched again; kExitFailed when a mirror is damaged or an object is lost or still
// quarantined. With io.json the admin API's answer.
struct VerifyArgs {
  std::string name;  // empty: every mirror and the whole store
};
int RunVerifyCommand(ApiClient& client, const VerifyArgs& args, CommandIo& io);
std::string FormatVerifyOutcome(const boost::json::value& answer);

// Fields of an admin API answer: a number (0 when absent or not a number) and a string
// ("" when absent or not a string).
uint64_t JsonCount(const boost::json::object& o, std::string_view key);
std::string JsonText(const boost::json::object& o, std::string_view key);

// "/api/v1/repos/<name>" (names are URL-safe once validated).
std::string RepoApiPath(std::string_view name);

}  // namespace mirrord
