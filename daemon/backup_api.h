// The admin endpoint behind `mirrorctl backup DIR` (bearer token as the rest of /api/v1/):
//
//   POST /api/v1/backup  {"dir": "/abs/path/on/mirrord's/host"}
//     200 application/x-ndjson, one line at least every 5 s while it runs:
//       {"phase", "repos_done", "repos_total", "files", "bytes", "linked"}   (progress)
//     and a last line, either
//       {"done": true, "dir", "repos", "refs", "lfs_objects", "oci_blobs", "files", "bytes",
//        "linked", "created_at"}
//       {"error": {"code", "message"}}
//     400 for a body without an absolute "dir"; 409 while another backup runs; 401 without
//     the token. What is written is daemon/backup.h's layout.
//
// The backup runs on a thread of its own (never on the request pool: it may take long); a
// client that goes away does not stop it (the result is logged). Stop() cancels a running
// one and waits for it (shutdown).
// Thread-safety: Handle may run concurrently; one backup at a time.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/live_value.h"
#include "daemon/backup.h"
#include "daemon/http_exchange.h"

namespace mirrord {

class BackupApi {
 public:
  // Everything passed must outlive the BackupApi. An empty `admin_token` refuses every call.
  BackupApi(BackupSources sources, std::string admin_token,
            const Clock& clock = SystemClock::Instance());
  ~BackupApi();  // Stop()s
  BackupApi(const BackupApi&) = delete;
  BackupApi& operator=(const BackupApi&) = delete;

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }
  // Asks a running backup to stop (it ends Cancelled at its next file) and refuses new
  // ones; returns at once (safe on a network thread).
  void Cancel() { cancel_.store(true); }
  // Cancel(), then waits until the backup's thread ended.
  void Stop();

 private:
  // What a running backup shares with the requests following it.
  struct Run {
    std::mutex mu;
    BackupProgress progress;
    bool finished = false;
    Result<BackupSummary> result = Internal("not finished");
  };

  const BackupSources sources_;
  LiveValue<std::string> admin_token_;
  const Clock& clock_;
  std::mutex mu_;  // guards thread_ and running_
  std::thread thread_;
  std::shared_ptr<Run> running_;  // the last backup started
  std::atomic<bool> cancel_{false};
};

}  // namespace mirrord
