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

}  // namespace mirrord
