// SqliteJobQueue: the embedded JobQueue (storage/job_queue.h), in the catalog's SQLite file
// (tables sync_jobs, paused_hosts, webhook_deliveries of catalog schema 3; job kinds from
// schema 8, fencing tokens from schema 9). Every operation
// is one BEGIN IMMEDIATE transaction, so the queue survives crashes and restarts with the
// catalog, and several processes on one host could share it (SQLite's file locks); across
// hosts use RedisJobQueue.
// Thread-safety: thread-safe (one connection guarded by a mutex).
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "storage/job_queue.h"
#include "storage/sqlite.h"

namespace mirrord {

class SqliteJobQueue final : public JobQueue {
 public:
  // Opens a connection to the catalog at `catalog_file`, which Catalog::Open must already
  // have created and migrated: FailedPrecondition when its schema is older than 8.
  static Result<std::unique_ptr<SqliteJobQueue>> Open(const std::filesystem::path& catalog_file);

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

 private:
  explicit SqliteJobQueue(Db db) : db_(std::move(db)) {}

  // The queued (running = 0) job with `key`'s QueueKey, if any. Caller holds mu_.
  Result<std::optional<QueuedJob>> QueuedFor(const QueuedJob& key);
  // Folds `incoming` into the queued job `kept` (see JobQueue::Enqueue) and stores it.
  Result<QueuedJob> Coalesce(QueuedJob kept, const QueuedJob& incoming);

  std::mutex mu_;
  Db db_;
};

}  // namespace mirrord
