// mirrorctl's commands, one per file (command_<name>.cc). main.cc parses the command line
// and calls Run*Command with the parsed arguments; the commands talk to mirrord through
// ApiClient and write to CommandIo.
//
// Exit codes: kExitOk, kExitFailed (the operation failed), kExitUsage (bad arguments),
// kExitUnreachable (mirrord cannot be reached or refused the token).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "cli/api_client.h"
#include "common/api_types.h"
#include "common/clock.h"

namespace mirrord {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
};

struct CommandIo {
  std::ostream& out;
  std::ostream& err;
  bool out_is_tty = false;
  const Clock& clock = SystemClock::Instance();
};

// Prints "mirrorctl: <message>" to io.err and returns kExitUnreachable; for a failed
// ApiClient call.
int ReportUnreachable(const Status& status, CommandIo& io);
// Prints "mirrorctl: <context>: <message>" (or without context) for a non-2xx reply and
// returns kExitFailed.
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
// Registers the repo when a source is given (an existing repo with another source is an
// error), requests a sync and, unless no_follow, shows its progress until it ends. Returns
// kExitOk when the sync succeeded (or was queued, with no_follow), kExitFailed with
// "mirrord: sync of NAME failed: <error>" on stderr when it failed.
int RunSyncCommand(ApiClient& client, const SyncArgs& args, CommandIo& io);

// list: a table NAME STATE LAST-SYNC REFS UPSTREAM.
int RunListCommand(ApiClient& client, CommandIo& io);
// The table, header first, columns padded to their widest cell.
std::string FormatRepoTable(const std::vector<RepoStatus>& repos, int64_t now);

// status [NAME] [--json]
struct StatusArgs {
  std::string name;  // empty: every repo
  bool json = false;
};
int RunStatusCommand(ApiClient& client, const StatusArgs& args, CommandIo& io);
// The human view of one repo (several lines, newline-terminated).
std::string FormatRepoStatus(const RepoStatus& repo, int64_t now);

// remove NAME
struct RemoveArgs {
  std::string name;
};
int RunRemoveCommand(ApiClient& client, const RemoveArgs& args, CommandIo& io);

// queue [--json]: what is queued and running (every node), and paused upstream hosts.
struct QueueArgs {
  bool json = false;
};
int RunQueueCommand(ApiClient& client, const QueueArgs& args, CommandIo& io);
std::string FormatQueue(const QueueView& queue, int64_t now);

// images [NAME] [--json]: tags, digests, sizes, commits and ages of the built images, the
// GPU need, and the docker pull / docker run lines (cli/command_images.cc).
struct ImagesArgs {
  std::string name;  // empty: every image repository and recipe
  bool json = false;
};
int RunImagesCommand(ApiClient& client, const ImagesArgs& args, CommandIo& io);
// The human view of GET /api/v1/images's answer.
std::string FormatImages(const boost::json::value& answer, int64_t now);

// Rows as a table: columns padded to their widest cell, two spaces apart, no trailing blanks.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// "/api/v1/repos/<name>" (names are URL-safe once validated).
std::string RepoApiPath(std::string_view name);

}  // namespace mirrord
