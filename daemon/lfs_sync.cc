#include "daemon/lfs_sync.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/log.h"
#include "lfs/batch_client.h"

namespace mirrord {
namespace {

// A sync's pin lapses after this if its holder died without releasing it (a crash).
constexpr int64_t kSyncPinLifetime = 2 * 86400;

// The upstream's per-object verdicts that retrying cannot change.
bool IsMissingUpstream(const Status& s) {
  return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument;
}

int ErrorCodeFor(const Status& s) {
  if (s.code() == StatusCode::kNotFound) return 404;
  if (s.code() == StatusCode::kInvalidArgument) return 422;
  return 0;
}

// Aggregates per-object progress into the phase's counters, rate-smoothed, for mirrorctl.
class LfsProgress {
 public:
  LfsProgress(const std::function<void(const SyncProgress&)>& sink, uint64_t objects,
              uint64_t bytes)
      : sink_(sink) {
    progress_.phase = "lfs";
    progress_.lfs_objects_total = objects;
    progress_.lfs_bytes_total = bytes;
    Emit();
  }

  void Object(const LfsPointer& object, uint64_t done, uint64_t total) {
    std::lock_guard lock(mu_);
    uint64_t& mine = done_by_oid_[object.oid];
    done = std::min(done, total);
    if (done >= mine) {
      bytes_done_ += done - mine;
    } else {
      bytes_done_ -= mine - done;  // a refetch from zero after a hash mismatch
    }
    mine = done;
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last_sample_).count();
    if (dt >= 0.5) {
      double instant =
          static_cast<double>(bytes_done_ > last_bytes_ ? bytes_done_ - last_bytes_ : 0) / dt;
      rate_ = rate_ == 0 ? instant : 0.7 * rate_ + 0.3 * instant;
      last_sample_ = now;
      last_bytes_ = bytes_done_;
    }
    if (done == total) {
      if (finished_.insert(object.oid).second) ++progress_.lfs_objects_done;
    }
    progress_.lfs_bytes_done = bytes_done_;
    progress_.lfs_bytes_per_second = rate_;
    Emit();
  }

 private:
  void Emit() {
    if (sink_) sink_(progress_);
  }
  const std::function<void(const SyncProgress&)>& sink_;
  std::mutex mu_;
  SyncProgress progress_;
  std::map<std::string, uint64_t> done_by_oid_;
  std::set<std::string> finished_;
  uint64_t bytes_done_ = 0;
  uint64_t last_bytes_ = 0;
  double rate_ = 0;
  std::chrono::steady_clock::time_point last_sample_ = std::chrono::steady_clock::now();
};

ObjectDownloaderOptions DownloaderOptions(const LfsConfig& config, HostConnectionLimiter* limiter,
                                          DownloadPool* pool, std::chrono::seconds stall_timeout,
                                          const std::atomic<bool>* cancel) {
  ObjectDownloaderOptions o;
  o.max_connections = config.connections;
  o.concurrency = config.concurrent_objects;
  o.limiter = limiter;
  o.pool = pool;
  o.max_refetches = config.verify_retries;
  o.stall_timeout = stall_timeout;
  o.cancel = cancel;
  return o;
}

LfsBatchClientOptions BatchOptions(const std::string& token, std::chrono::seconds stall_timeout,
                                   const std::atomic<bool>* cancel) {
  LfsBatchClientOptions o;
  o.token = token;
  o.stall_timeout = stall_timeout;
  o.cancel = cancel;
  return o;
}

}  // namespace

LfsSyncer::LfsSyncer(const LfsConfig& config, Catalog& catalog, BlobStore& store,
                     const Clock& clock)
    : config_(config),
      catalog_(catalog),
      store_(store),
      clock_(clock),
      limiter_(config.per_host_connections),
      pool_(config.download_threads) {}

void LfsSyncer::AttachMetrics(Metrics* metrics) {
  {
    std::lock_guard lock(metrics_mu_);
    metrics_ = metrics;
  }
  UpdateQuarantineMetrics();
}

void LfsSyncer::UpdateQuarantineMetrics() {
  const BlobStore::QuarantineUsage q = store_.quarantine_usage();
  std::lock_guard lock(metrics_mu_);
  if (metrics_ == nullptr) return;
  metrics_->SetLfsQuarantineBytes(q.bytes);
  if (q.dropped > reported_dropped_) {
    metrics_->AddLfsQuarantineDropped(q.dropped - reported_dropped_);
    reported_dropped_ = q.dropped;
  }
}

Status LfsSyncer::CheckCorruptBackoff(const std::string& oid) {
  Result<LfsObjectRecord> record = catalog_.GetLfsObject(oid);
  if (!record.ok() || record->retry_at <= Now()) return Status::Ok();
  // The wait travels as a typed fact: the scheduler's retry waits for it too.
  return DataLoss("LFS object " + oid + " failed verification in " +
                  std::to_string(record->corrupt_streak) +
                  " sync(s) in a row (the upstream, or a proxy, sends corrupt data); backing off: "
                  "next fetch in " +
                  std::to_string(record->retry_at - Now()) + " s ([lfs] corrupt_backoff)")
      .WithRetryAfter(std::chrono::seconds(record->retry_at - Now()));
}

void LfsSyncer::RecordVerification(const LfsDownloadReport& r) {
  for (size_t i = 0; i < r.quarantined.size(); ++i) {
    (void)catalog_.CountLfsQuarantine(r.object.oid, Now());
  }
  if (r.status.code() == StatusCode::kDataLoss) {
    Result<LfsObjectRecord> backoff = catalog_.RecordLfsCorruption(
        r.object.oid, Now(), config_.corrupt_backoff.count(), config_.corrupt_backoff_max.count());
    if (backoff.ok()) {
      MLOG(Warning) << "LFS object " << r.object.oid << ": corrupt from the upstream in "
                    << backoff->corrupt_streak << " sync(s) in a row; not fetched again for "
                    << backoff->retry_at - Now() << " s";
    }
  }
  if (!r.quarantined.empty()) UpdateQuarantineMetrics();
}

void LfsSyncer::ForgetRepo(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = caches_.find(name);
  if (it != caches_.end()) caches_.erase(it);
}

Result<LfsSyncOutcome> LfsSyncer::SyncObjects(const LfsSyncRequest& request) {
  std::shared_ptr<LfsScanCache> cache;
  {
    std::lock_guard lock(mu_);
    auto& slot = caches_[request.repo_name];
    if (!slot) slot = std::make_shared<LfsScanCache>();
    cache = slot;
  }
  std::map<std::string, std::string> tips;
  for (const PublishedRef& r : request.refs) tips[r.name] = r.oid;
  LfsScanOptions scan_options;
  scan_options.all_history = request.policy.all_history;
  scan_options.include = request.policy.include;
  scan_options.exclude = request.policy.exclude;
  // The scheduler runs at most one sync per repo, so a mirror's cache has one user at a time.
  Result<LfsScanResult> scan = ScanLfsPointers(request.repo_dir, tips, scan_options, cache.get());
  if (!scan.ok()) return scan.status().WithContext("LFS pointer scan");

  LfsSyncOutcome outcome;
  std::map<std::string, uint64_t> size_of;
  for (const auto& [ref, found] : scan->by_ref) {
    for (const FoundLfsPointer& f : found) {
      outcome.references.push_back({ref, f.pointer.oid, f.pointer.size, f.path, !f.filtered_out});
      size_of.emplace(f.pointer.oid, f.pointer.size);
    }
  }
  outcome.objects = size_of.size();
  for (const auto& [oid, size] : size_of) outcome.bytes += size;

  std::vector<LfsObjectRecord> records;
  for (const auto* list : {&scan->wanted, &scan->filtered}) {
    for (const LfsPointer& p : *list) {
      LfsObjectRecord r;
      r.oid = p.oid;
      r.size = p.size;
      records.push_back(std::move(r));
    }
  }
  // Pinned before the store is looked at (see storage/lfs_gc.h), released when the outcome
  // is dropped, after the references are published.
  {
    static std::atomic<uint64_t> next_pin{0};
    auto holder = std::make_shared<const std::string>("sync:" + request.repo_name + ":" +
                                                      std::to_string(Now()) + ":" +
                                                      std::to_string(next_pin.fetch_add(1)));
    std::vector<std::string> oids;
    oids.reserve(records.size());
    for (const LfsObjectRecord& r : records) oids.push_back(r.oid);
    RETURN_IF_ERROR(catalog_.PinLfsObjects(*holder, oids, Now() + kSyncPinLifetime));
    Catalog* catalog = &catalog_;
    outcome.pin = std::shared_ptr<const void>(holder.get(), [holder, catalog](const void*) {
      (void)catalog->UnpinLfsObjects(*holder);  // a pin left behind lapses on its own
    });
  }
  RETURN_IF_ERROR(catalog_.AddLfsObjects(records, Now()));

  std::vector<LfsPointer> missing;
  uint64_t missing_bytes = 0;
  Status first_failure;
  uint64_t failed = 0;
  for (const LfsPointer& p : scan->wanted) {
    if (store_.Contains(p.oid)) {
      // Present in the store (another repo brought it, or an earlier run): one copy serves all.
      (void)catalog_.MarkLfsObjectPresent(p.oid, Now());
      continue;
    }
    if (Status backoff = CheckCorruptBackoff(p.oid); !backoff.ok()) {
      // Not fetched at poll speed: the phase fails without touching the upstream.
      ++failed;
      if (first_failure.ok()) first_failure = backoff;
      continue;
    }
    missing.push_back(p);
    missing_bytes += p.size;
  }
  const uint64_t to_fetch = missing.size() + failed;
  MLOG(Info) << "lfs " << request.repo_name << ": " << outcome.objects << " objects ("
             << outcome.bytes << " bytes) referenced, " << scan->filtered.size()
             << " filtered out, " << missing.size() << " to fetch (" << missing_bytes
             << " bytes); scan read " << scan->trees_walked << " trees, " << scan->blobs_read
             << " small blobs";
  if (missing.empty() && failed == 0) return outcome;

  LfsProgress progress(request.on_progress, missing.size(), missing_bytes);
  LfsBatchClient batch(LfsBatchClient::EndpointForCloneUrl(request.clone_url),
                       BatchOptions(request.token, request.stall_timeout, request.cancel));
  ObjectDownloader downloader(
      &store_, &batch,
      DownloaderOptions(config_, &limiter_, &pool_, request.stall_timeout, request.cancel));
  for (const LfsPointer& p : missing) (void)catalog_.CountLfsAttempt(p.oid, Now());
  std::vector<LfsDownloadReport> reports = downloader.DownloadObjects(
      missing, "", 0, [&progress](const LfsPointer& o, uint64_t done, uint64_t total) {
        progress.Object(o, done, total);
      });

  for (const LfsDownloadReport& r : reports) {
    outcome.bytes_fetched += r.received_bytes;
    for (const std::string& q : r.quarantined) {
      MLOG(Warning) << "lfs " << request.repo_name << ": " << r.object.oid
                    << " failed verification and was quarantined: " << q;
    }
    RecordVerification(r);
    if (r.status.ok()) {
      if (!r.already_present) ++outcome.objects_fetched;
      (void)catalog_.MarkLfsObjectPresent(r.object.oid, Now());
      continue;
    }
    (void)catalog_.MarkLfsObjectFailed(r.object.oid, r.status.ToString(), ErrorCodeFor(r.status),
                                       Now());
    if (IsMissingUpstream(r.status)) {
      ++outcome.objects_missing_upstream;
      MLOG(Warning) << "lfs " << request.repo_name << ": the upstream does not serve "
                    << r.object.oid << ": " << r.status.ToString();
      continue;
    }
    ++failed;
    if (first_failure.ok()) {
      first_failure = r.status.WithContext("LFS object " + r.object.oid);
    }
  }
  if (failed > 0) {
    std::string what = std::to_string(failed) + " of " + std::to_string(to_fetch) +
                       " LFS objects could not be fetched (the previous state stays published; "
                       "fetched bytes are kept for the next attempt)";
    return first_failure.WithContext(what);  // keeps the typed facts (retry_after)
  }
  return outcome;
}

Status LfsSyncer::FetchOne(const std::string& clone_url, const std::string& token,
                           const LfsRefRecord& reference, std::chrono::seconds stall_timeout) {
  if (store_.Contains(reference.oid)) return Status::Ok();
  if (stopping_.load()) return Cancelled("mirrord is stopping");
  if (Status backoff = CheckCorruptBackoff(reference.oid); !backoff.ok()) {
    return Unavailable(backoff.message());
  }
  LfsPointer pointer{reference.oid, reference.size};
  LfsBatchClient batch(LfsBatchClient::EndpointForCloneUrl(clone_url),
                       BatchOptions(token, stall_timeout, &stopping_));
  ObjectDownloaderOptions options =
      DownloaderOptions(config_, &limiter_, &pool_, stall_timeout, &stopping_);
  // Another download of this oid (a sync, another client, another node) is waited for,
  // woken when it ends: the client gets the object it brought.
  options.busy_wait_timeout = config_.pull_through_timeout;
  ObjectDownloader downloader(&store_, &batch, std::move(options));
  (void)catalog_.CountLfsAttempt(pointer.oid, Now());
  LfsDownloadReport r = downloader.Download(pointer, std::nullopt, reference.ref);
  RecordVerification(r);
  if (r.status.ok()) {
    (void)catalog_.MarkLfsObjectPresent(pointer.oid, Now());
    return Status::Ok();
  }
  (void)catalog_.MarkLfsObjectFailed(pointer.oid, r.status.ToString(), ErrorCodeFor(r.status),
                                     Now());
  return r.status;
}

}  // namespace mirrord
