// RedisJobQueue: the JobQueue (storage/job_queue.h) in a Redis server, shared by several
// mirrord nodes. Configured by `[queue] redis_url` (see ParseRedisUrl).
//
// Data model, all keys under `key_prefix` (default "mirrord:"), so several mirrors can share
// one Redis database by giving each its own prefix:
//   job:<run_id>     hash: the QueuedJob's fields, plus `key`, its claim-order key, and
//                    `qkey`, its QueueKey (storage/job_queue.h; absent: the repo)
//   queued           sorted set, every score 0, of claim-order keys of queued jobs:
//                    "<priority>|<not_before>|<queued_at>|<run_id>|" zero-padded to fixed
//                    widths, so member (byte) order is claim order, then the run id as
//                    stored, which names the job
//   queued_by_repo   hash queue key -> run id of its queued job (at most one); a sync's
//                    queue key is its repo, so the name stayed
//   running          sorted set of running run ids by lease end
//   running_by_repo  hash queue key -> run id of its running job (at most one)
//   host_running     hash host -> number of running jobs
//   paused           hash host -> pause end (ms); pause_reason: hash host -> reason (one
//                    entry per host ever paused, kept after the pause ends)
//   delivery:<id>    string: the time (ms) until which webhook delivery <id> counts as seen
//
// Every operation is one Lua script (EVALSHA, falling back to EVAL), which Redis runs
// atomically: no other client's command interleaves, so two nodes never claim the same job
// or two jobs of one repo, and the per-host limits hold across nodes. Times are the
// caller's (now_ms arguments), never Redis's clock; the only exception is garbage
// collection of delivery ids, which also get a Redis expiry of keep_ms so they do not pile
// up. Claim walks the queue in order and stops at the first claimable job: its cost grows
// with the number of queued jobs that are skipped (not yet due, repo running, host paused
// or full), not with the size of the queue.
//
// Limits: numbers (run ids, times) must lie within +-2^53 (Lua numbers are doubles);
// negative not_before/queued_at sort as 0. Run ids must be positive. A single Redis server
// (or a Sentinel-managed primary) is supported, not Redis Cluster: scripts touch keys they
// compute. Durability is Redis's: run it with appendonly (appendfsync everysec or always)
// when queued work must survive a Redis crash.
//
// Connection failures are values: Unavailable when Redis cannot be reached (after one
// transparent reconnect when the connection had broken), DeadlineExceeded when it did not
// answer within the timeout; the next call tries again (see RedisClient). A script that is
// resent after a broken connection could have run once already if Redis died in between
// running it and answering; the worst outcomes are an Enqueue answered AlreadyExists for
// the run it just queued, or a claimed job nobody runs until its lease expires and it is
// requeued. Neither loses work nor runs a repo twice at once.
//
// Thread-safety: thread-safe (one connection guarded by a mutex). For parallelism open one
// RedisJobQueue per thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "storage/job_queue.h"
#include "storage/redis_client.h"

namespace mirrord {

struct RedisQueueOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // non-empty: connect to this socket instead of host:port
  int db = 0;
  std::string username;  // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  std::string key_prefix = "mirrord:";
  std::chrono::milliseconds timeout{2000};  // connect, and each command
};

// Parses a Redis URL into options (timeout and key_prefix keep their defaults):
//   redis://[[username]:password@]host[:port][/db]   host may be [IPv6]; port 6379; db 0
//   unix://[[username]:password@]/path/to.sock[?db=N]
// Userinfo is percent-decoded; `redis://host/?db=N` is accepted too. InvalidArgument for
// anything else (rediss:// TLS is not supported); messages never quote the password.
Result<RedisQueueOptions> ParseRedisUrl(std::string_view url);

class RedisJobQueue final : public JobQueue {
 public:
  // Connects and checks that the server answers (PING). On failure nothing is kept open:
  // Unavailable / DeadlineExceeded (no Redis there), PermissionDenied (AUTH refused).
  static Result<std::unique_ptr<RedisJobQueue>> Connect(const RedisQueueOptions& options);

  Result<EnqueueResult> Enqueue(const QueuedJob& job) override;
  Result<std::optional<QueuedJob>> CoalesceIntoQueued(const QueuedJob& job) override;
  Result<std::optional<QueuedJob>> Claim(const ClaimRequest& request) override;
  Status Renew(int64_t run_id, std::string_view owner, int64_t lease_until_ms) override;
  Status Finish(int64_t run_id, std::string_view owner) override;
  Result<Requeued> RequeueAbandoned(std::string_view owner, int64_t now_ms) override;
  Result<int64_t> RemoveQueued(std::string_view repo) override;
  Result<std::vector<QueuedJob>> List() override;
  Status PauseHost(const PausedHost& pause) override;
  Result<std::vector<PausedHost>> PausedHosts(int64_t now_ms) override;
  Result<bool> RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                              int64_t keep_ms) override;

  const std::string& key_prefix() const { return prefix_; }

 private:
  RedisJobQueue(RedisConnectOptions options, std::string prefix)
      : client_(std::move(options)), prefix_(std::move(prefix)) {}

  // Enqueue, or with run_id 0 CoalesceIntoQueued (nullopt: nothing queued to coalesce into).
  Result<std::optional<EnqueueResult>> RunEnqueue(const QueuedJob& job);
  // Runs `script` with ARGV = [prefix, args...] under mu_.
  Result<RedisReplyPtr> Run(const RedisScript& script, std::vector<std::string> args);

  std::mutex mu_;
  RedisClient client_;  // guarded by mu_
  const std::string prefix_;
};

}  // namespace mirrord
