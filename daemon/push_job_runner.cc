#include "daemon/push_job_runner.h"

#include <algorithm>

#include "common/log.h"
#include "daemon/registry_target.h"
#include "daemon/sync_failure.h"

namespace mirrord {

PushRunView PushRunViewOf(const PushRunRecord& r) {
  PushRunView v;
  v.run_id = r.run_id;
  v.image = r.image;
  v.digest = r.digest;
  v.model_digest = r.model_digest;
  v.registry = r.registry;
  v.repository = r.repository;
  v.tags = r.tags;
  v.model_tags = r.model_tags;
  v.repo = r.repo_name;
  v.trigger = r.trigger;
  v.state = r.state;
  v.error = r.error;
  v.bytes_sent = r.bytes_sent;
  v.blobs_skipped = static_cast<uint64_t>(std::max<int64_t>(0, r.blobs_skipped));
  v.blobs_mounted = static_cast<uint64_t>(std::max<int64_t>(0, r.blobs_mounted));
  v.blobs_uploaded = static_cast<uint64_t>(std::max<int64_t>(0, r.blobs_uploaded));
  v.uploads_resumed = static_cast<uint64_t>(std::max<int64_t>(0, r.uploads_resumed));
  v.duration_ms = r.duration_ms;
  v.queued_at = r.queued_at;
  v.started_at = r.started_at;
  v.finished_at = r.finished_at;
  return v;
}

PushJobRunner::PushJobRunner(const LiveConfig& config, Catalog& catalog, ImagePusher& pusher,
                             Metrics& metrics, const Clock& clock)
    : config_(config), catalog_(catalog), pusher_(pusher), metrics_(metrics), clock_(clock) {}

void PushJobRunner::SetLive(int64_t run_id, const std::function<void(PushRunView&)>& update) {
  std::lock_guard lock(mu_);
  auto it = live_.find(run_id);
  if (it != live_.end()) update(it->second);
}

Result<PushRunView> PushJobRunner::View(int64_t run_id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(run_id); it != live_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(PushRunRecord p, catalog_.GetPushRun(run_id));
  PushRunView v = PushRunViewOf(p);
  if (Result<SyncRunRecord> r = catalog_.GetRun(run_id); r.ok()) v.failure = r->failure;
  return v;
}

Status PushJobRunner::Push(const PushRunRecord& record, const JobContext& context,
                           PushReport* report) {
  // The registry and its secrets as configured now (a reload or a rotated secret applies to
  // this attempt); a registry that left the configuration cannot come back by waiting.
  const std::shared_ptr<const Config> config = config_.Get();
  auto reg = config->registries.find(record.registry);
  if (reg == config->registries.end()) {
    return InvalidArgument("no [registries." + record.registry + "] is configured any more");
  }
  ASSIGN_OR_RETURN(RegistryTarget target, ReadRegistryTarget(reg->second));
  struct Part {
    std::string_view what;
    const std::string& digest;
    const std::vector<std::string>& tags;
  };
  const Part parts[] = {{"image", record.digest, record.tags},
                        {"model artifact", record.model_digest, record.model_tags}};
  for (const Part& part : parts) {
    if (part.digest.empty()) continue;
    if (context.cancel != nullptr && context.cancel->load()) {
      return Cancelled("push of " + record.image + " to " + record.registry + " was cancelled");
    }
    PushRequest request{record.image, part.digest, record.repository, part.tags};
    const uint64_t sent_before = report->bytes_sent;
    auto progress = [&](const PushProgress& p) {
      SetLive(record.run_id, [&](PushRunView& v) {
        v.bytes_total = p.bytes_total;
        v.bytes_sent = sent_before + p.bytes_sent;
        v.blobs_total = p.blobs_total;
        v.blobs_done = p.blobs_done;
        v.blob = p.blob;
      });
    };
    Result<PushReport> pushed = pusher_.Push(target, request, progress, context.cancel);
    if (!pushed.ok()) {
      return pushed.status().WithContext("push " + std::string(part.what) + " " + record.image +
                                         "@" + part.digest + " to " + record.registry + "/" +
                                         record.repository);
    }
    report->bytes_sent += pushed->bytes_sent;
    report->blobs_skipped += pushed->blobs_skipped;
    report->blobs_mounted += pushed->blobs_mounted;
    report->blobs_uploaded += pushed->blobs_uploaded;
    report->uploads_resumed += pushed->uploads_resumed;
    SetLive(record.run_id, [&](PushRunView& v) {
      v.bytes_sent = report->bytes_sent;
      v.blob.clear();
    });
  }
  return Status::Ok();
}

JobOutcome PushJobRunner::Run(const QueuedJob& job, const JobContext& context) {
  const int64_t run_id = job.run_id;
  auto now = [this] { return ToUnixSeconds(clock_.Now()); };
  const auto started = clock_.SteadyNow();
  Result<PushRunRecord> record = catalog_.GetPushRun(run_id);
  {
    PushRunView v = record.ok() ? PushRunViewOf(*record) : PushRunView{};
    v.run_id = run_id;
    v.repo = job.repo;
    v.trigger = job.trigger;
    v.state = "running";
    v.attempt = job.attempt;
    v.started_at = now();
    std::lock_guard lock(mu_);
    live_[run_id] = std::move(v);
  }
  if (Status s = catalog_.MarkRunStarted(run_id, now()); !s.ok()) {
    MLOG(Error) << "catalog: " << s.ToString();
  }
  PushReport report;
  Status outcome = record.status();
  if (outcome.ok()) {
    MLOG(Info) << "push " << record->image << "@" << record->digest << " to " << record->registry
               << "/" << record->repository << " (run " << run_id << ", attempt " << job.attempt
               << ")";
    outcome = Push(*record, context, &report);
  }
  const double seconds = std::chrono::duration<double>(clock_.SteadyNow() - started).count();
  report.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.SteadyNow() - started);
  const bool cancelled = (context.cancel != nullptr && context.cancel->load()) ||
                         outcome.code() == StatusCode::kCancelled;

  JobOutcome out;
  if (Result<RepoRecord> repo = catalog_.GetRepo(job.repo); repo.ok()) out.repo_id = repo->id;
  out.kind = outcome.ok() ? JobOutcome::Kind::kSucceeded
             : cancelled  ? JobOutcome::Kind::kCancelled
                          : JobOutcome::Kind::kFailed;
  SyncRunRecord run;
  run.id = run_id;
  run.state = outcome.ok() ? "succeeded" : (cancelled ? "interrupted" : "failed");
  run.error = outcome.ok() ? "" : RedactUrlCredentials(outcome.ToString());
  run.finished_at = now();
  if (out.kind == JobOutcome::Kind::kFailed) {
    out.failure = ClassifyFailure(FailurePhase::kPush, outcome);
    out.message = RedactUrlCredentials(outcome.message());
    run.failure = out.failure;
  }
  // A cancelled run whose lease this node cannot confirm belongs to another node now.
  const bool owned = !cancelled || !context.confirm_lease || context.confirm_lease().ok();
  if (!owned) {
    MLOG(Warning) << "push run " << run_id << " is no longer this node's; its record is left "
                  << "to its new owner";
  } else {
    if (record.ok()) {
      PushRunRecord sent = *record;
      sent.bytes_sent = report.bytes_sent;
      sent.blobs_skipped = static_cast<int64_t>(report.blobs_skipped);
      sent.blobs_mounted = static_cast<int64_t>(report.blobs_mounted);
      sent.blobs_uploaded = static_cast<int64_t>(report.blobs_uploaded);
      sent.uploads_resumed = static_cast<int64_t>(report.uploads_resumed);
      sent.duration_ms = report.duration.count();
      if (Status s = catalog_.RecordPushResult(sent); !s.ok()) {
        MLOG(Error) << "catalog: " << s.ToString();
      }
    }
    if (Status s = catalog_.FinishRun(run); !s.ok()) MLOG(Error) << "catalog: " << s.ToString();
  }
  const std::string registry = record.ok() ? record->registry : job.ref;
  metrics_.RecordImagePush(
      registry, outcome.ok() ? "succeeded" : (cancelled ? "cancelled" : "failed"), seconds,
      {report.bytes_sent, report.blobs_skipped, report.blobs_mounted, report.blobs_uploaded});
  if (outcome.ok()) {
    MLOG(Info) << "push run " << run_id << " to " << registry << " succeeded in " << seconds
               << " s: " << report.bytes_sent << " bytes sent, " << report.blobs_uploaded
               << " blobs uploaded, " << report.blobs_mounted << " mounted, "
               << report.blobs_skipped << " skipped";
  } else {
    MLOG(Error) << "push run " << run_id << " to " << registry << " " << run.state << " after "
                << seconds << " s: " << run.error;
  }
  {
    std::lock_guard lock(mu_);
    live_.erase(run_id);
  }
  return out;
}

}  // namespace mirrord
