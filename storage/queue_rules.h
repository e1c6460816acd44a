// QueueRules: the JobQueue rules of storage/job_queue.h written once in C++ — which queued
// job a claim takes, and how a trigger coalesces into a queued job. SqliteJobQueue and the
// depth gauge (storage/queue_depth.h) use these functions; RedisJobQueue's Lua scripts
// restate them inside Redis (a claim must be atomic there) and the conformance suite
// (tests/unit/storage/job_queue_conformance_test.cc) pins them to these, step by step,
// against a real redis-server.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/job_queue.h"

namespace mirrord {

// `incoming` folded into the queued job `kept`: kept keeps its run id and queued_at_ms,
// takes the smaller priority (and then incoming's trigger), the smaller not_before_ms, the
// larger pushed_at_ms, and incoming's host when it had none.
QueuedJob CoalesceJobs(QueuedJob kept, const QueuedJob& incoming);

// Claim order: lower priority, then earlier not_before_ms, then older queued_at_ms, then
// smaller run id.
bool ClaimsBefore(const QueuedJob& a, const QueuedJob& b);

// What a claim at `now_ms` must respect, gathered from every job and pause.
struct ClaimState {
  int64_t now_ms = 0;
  int max_running_per_host = 0;  // <= 0: no limit
  std::set<std::string> paused_hosts;
  std::set<std::string> running_keys;  // QueueKey of every running job
  std::map<std::string, int> running_per_host;
};
// `jobs`: every job, queued and running (JobQueue::List()); `paused`: pauses (those ended
// by now_ms are ignored).
ClaimState ClaimStateOf(const std::vector<QueuedJob>& jobs, const std::vector<PausedHost>& paused,
                        int64_t now_ms, int max_running_per_host);

// Whether the queued job `job` may be claimed now: its not_before has come, its queue key
// has no running job, its host is under the running limit, and its host is not paused unless the
// job is manual (JobPriority::kManual overrides a pause, never the limit).
bool IsClaimable(const QueuedJob& job, const ClaimState& state);

// The job a Claim must take: the first claimable queued job in claim order; nullopt when
// none is. Returns an index into `jobs`.
std::optional<size_t> PickClaimable(const std::vector<QueuedJob>& jobs, const ClaimState& state);

}  // namespace mirrord
