#include "storage/job_queue.h"

namespace mirrord {

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kSync:
      return "sync";
    case JobKind::kBuild:
      return "build";
    case JobKind::kPush:
      return "push";
  }
  return "sync";
}

JobKind JobKindFromName(std::string_view name) {
  if (name == "build") return JobKind::kBuild;
  if (name == "push") return JobKind::kPush;
  return JobKind::kSync;
}

std::string QueueKey(const QueuedJob& job) {
  if (job.kind == JobKind::kBuild) return "build:" + job.build + ":" + job.ref;
  if (job.kind == JobKind::kPush) return "push:" + job.build + ":" + job.ref;
  return job.repo;
}

}  // namespace mirrord
