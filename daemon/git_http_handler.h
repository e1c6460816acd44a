// GitHttpHandler: read-only git smart HTTP for the bare mirrors, the Router's repository
// fallback.
//
//   GET  /<name>(.git)/info/refs?service=git-upload-pack  ref advertisement (v0 and v2)
//   POST /<name>(.git)/git-upload-pack                     negotiation + pack, streamed
//   any  .../git-receive-pack, ?service=git-receive-pack   403: this is a read-only mirror
//   any  .../info/lfs...                                   the LFS handler, if one is set
//   anything else (dumb HTTP: HEAD, objects/...)           404
//
// Each request runs `git upload-pack --stateless-rpc` (git/upload_pack_process.h) on the
// repository's directory: the request body (gzip allowed, inflated as it is fed, with a cap)
// streams into git's stdin while git's stdout streams to the client as chunks, one chunk
// in flight at a time (back-pressure), never buffered whole. The client's Git-Protocol
// header reaches git as GIT_PROTOCOL when it is a safe key=value list, so protocol v2
// works. A client that goes away gets its git killed and reaped; a git that fails after
// the response started ends the stream without its last chunk, so the client sees an error
// rather than a short pack.
//
// Thread-safety: Handle() may run concurrently on many connections; the handler holds no
// mutable state after construction (SetLfsHandler must come before serving).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/http_exchange.h"
#include "daemon/router.h"

namespace mirrord {

inline constexpr std::string_view kReadOnlyMirrorMessage =
    "mirrord: this is a read-only mirror; push to the upstream instead\n";

// Maps a validated repository name to its bare repository directory when it exists and
// may be served (e.g. has been synced at least once); nullopt otherwise. Called on the
// network thread: must be quick and must not block (an in-memory lookup or a stat).
using RepoDirResolver = std::function<std::optional<std::filesystem::path>(std::string_view name)>;

struct GitHttpOptions {
  std::filesystem::path git_home;  // HOME for git (e.g. the storage root); empty: /nonexistent
  std::string git_binary = "git";
  // Largest inflated size of a gzip request body; beyond it the client gets 413.
  uint64_t max_inflated_request_bytes = 256ull << 20;
  // After git closes its stdout, how long it may take to exit before it is killed.
  std::chrono::milliseconds exit_grace{std::chrono::seconds(10)};
  // How much of git's stderr is kept for the log.
  size_t stderr_capture_bytes = 8 * 1024;
  // Read size from git's stdout (the size of one streamed chunk at most).
  size_t chunk_bytes = 64 * 1024;
  // Lets clients ask for partial clones (--filter=blob:none), useful for weight repos.
  bool allow_filter = true;
  // Why git upload-pack failed when it exited non-zero before the response started: git's
  // exit code says nothing typed, so the repository's file system is asked. Returns
  // ResourceExhausted when it is full (the client gets 503 + Retry-After through
  // HttpErrorFor, like every handler, instead of 500), else OK. Runs only on that failure
  // path. Default: RepoDiskFull (statvfs). Tests substitute it.
  std::function<Status(const std::filesystem::path& repo_dir)> disk_full;
};

// ResourceExhausted when the file system holding `dir` has (almost) no space or inodes left
// for an unprivileged writer; OK otherwise, and when it cannot be asked.
Status RepoDiskFull(const std::filesystem::path& dir);

class GitHttpHandler {
 public:
  explicit GitHttpHandler(RepoDirResolver resolver, GitHttpOptions options = {});

  // Requests below "/info/lfs" go to `handler` (the LFS server); without one they get 404.
  void SetLfsHandler(RepoHandler handler) { lfs_handler_ = std::move(handler); }

  // Answers one request for `repo` (as parsed by the Router). Always answers; never throws
  // for I/O or git failures (they become 4xx/5xx answers, or an aborted stream).
  boost::asio::awaitable<void> Handle(HttpExchange& exchange, const RepoPath& repo) const;

 private:
  struct Stream;
  boost::asio::awaitable<void> ServeInfoRefs(HttpExchange& exchange, const RepoPath& repo,
                                             const std::filesystem::path& dir) const;
  boost::asio::awaitable<void> ServeUploadPack(HttpExchange& exchange, const RepoPath& repo,
                                               const std::filesystem::path& dir) const;
  // Runs git upload-pack on `dir` and streams its stdout (after `prefix`) as the response.
  boost::asio::awaitable<void> RunUploadPack(HttpExchange& exchange, const RepoPath& repo,
                                             const std::filesystem::path& dir, bool advertise,
                                             std::string_view content_type, std::string prefix,
                                             bool gzip_body) const;

  RepoDirResolver resolver_;
  GitHttpOptions options_;
  RepoHandler lfs_handler_;
};

}  // namespace mirrord
