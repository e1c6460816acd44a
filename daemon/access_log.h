// AccessLog: the audit log ([server] access_log): one JSON object per line per request,
//
//   {"time":"2026-12-06T07:58:01.123Z","client":"10.0.0.7","token":"ci","method":"GET",
//    "path":"/org/model.git/info/refs","repo":"org/model","status":200,"bytes":1234,
//    "duration_ms":12.345,"user_agent":"git/2.39.2"}
//
// time: when the request's first byte arrived (RFC 3339, UTC, milliseconds); client: the
// peer's address (no port; "unix" for the admin Unix socket); token: the read token's name
// ("" when anonymous); path: raw, never the query string (it can hold secrets); repo: ""
// when the request concerned none; bytes: response body bytes sent. Every string is
// JSON-escaped byte by byte (bytes outside printable ASCII as \u00XX), so a hostile
// User-Agent or path can neither break the line nor make it invalid JSON; the user agent is
// cut at kMaxLoggedUserAgent bytes.
//
// Requests are logged without blocking the network threads: Append() formats the line and
// queues it for a writer thread; when queue_limit lines are waiting the line is dropped and
// counted (dropped(), exported as mirrord_access_log_dropped_total). Reopen() (SIGUSR1, after
// logrotate renamed the file) makes the writer close the file and open `path` anew; the lines
// queued meanwhile go to the new file. A failed write or reopen is logged once per failure
// streak and the lines are counted as dropped.
//
// Thread-safety: Append(), Reopen() and the counters from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "daemon/http_server.h"

namespace mirrord {

inline constexpr size_t kMaxLoggedUserAgent = 256;

// One JSON line (ending in '\n') for `record`. Pure; exposed for tests and the fuzzer.
std::string FormatAccessLogLine(const HttpAccessRecord& record);

class AccessLog {
 public:
  // Opens (creating, mode 0640, appending) `path` and starts the writer thread. The error of
  // open(2) when the file cannot be opened (a start with a bad path fails at once).
  static Result<std::unique_ptr<AccessLog>> Open(const std::filesystem::path& path,
                                                 size_t queue_limit = 8192);
  // Writes what is queued, then stops the writer.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Queues the line for `record`; never blocks on the file. Dropped (and counted) when the
  // queue is full.
  void Append(const HttpAccessRecord& record);
  // The writer reopens the file before its next write.
  void Reopen();
  // Called (on any thread; must be thread-safe) for each dropped line, e.g. to count it in
  // a metric. Set before the first Append().
  void set_on_drop(std::function<void()> on_drop) { on_drop_ = std::move(on_drop); }

  uint64_t written() const { return written_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  AccessLog(std::filesystem::path path, int fd, size_t queue_limit);
  void WriterLoop();
  void Drop(uint64_t n);

  const std::filesystem::path path_;
  const size_t queue_limit_;
  std::function<void()> on_drop_;  // set before serving starts
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // guarded by mu_
  bool reopen_ = false;            // guarded by mu_
  bool stop_ = false;              // guarded by mu_
  int fd_;                         // writer thread only (after construction)
  std::thread writer_;
};

}  // namespace mirrord
