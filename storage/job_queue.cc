#include "storage/job_queue.h"

namespace mirrord {

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kSync:
      return "sync";
    case JobKind::kBuild:
      return "build";
  }
  return "sync";
}

JobKind JobKindFromName(std::string_view name) {
  return name == "build" ? JobKind::kBuild : JobKind::kSync;
}

std::string QueueKey(const QueuedJob& job) {
  if (job.kind == JobKind::kBuild) return "build:" + job.build + ":" + job.ref;
  return job.repo;
}

}  // namespace mirrord
