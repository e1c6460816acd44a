#include "common/api_types.h"

namespace mirrord {

std::string_view SyncTriggerName(SyncTrigger t) {
  switch (t) {
    case SyncTrigger::kManual:
      return "manual";
    case SyncTrigger::kPoll:
      return "poll";
    case SyncTrigger::kWebhook:
      return "webhook";
    case SyncTrigger::kStartup:
      return "startup";
  }
  return "unknown";
}

std::string_view FailurePhaseName(FailurePhase p) {
  switch (p) {
    case FailurePhase::kConnect:
      return "connect";
    case FailurePhase::kFetch:
      return "fetch";
    case FailurePhase::kVerify:
      return "verify";
    case FailurePhase::kLfs:
      return "lfs";
    case FailurePhase::kPublish:
      return "publish";
    case FailurePhase::kBuild:
      return "build";
    case FailurePhase::kPush:
      return "push";
  }
  return "unknown";
}

std::optional<FailurePhase> FailurePhaseFromName(std::string_view name) {
  for (FailurePhase p :
       {FailurePhase::kConnect, FailurePhase::kFetch, FailurePhase::kVerify, FailurePhase::kLfs,
        FailurePhase::kPublish, FailurePhase::kBuild, FailurePhase::kPush}) {
    if (FailurePhaseName(p) == name) return p;
  }
  return std::nullopt;
}

}  // namespace mirrord
