// SyncFailure: the one place that turns a failed step's Status into typed failure facts
// (common/api_types.h RunFailure) and the label mirrord_sync_failures_total counts it under.
// Retryability is decided here from typed facts only (code, phase, retry_after), never from
// message text.
#pragma once

#include <string_view>

#include "common/api_types.h"
#include "common/status.h"

namespace mirrord {

// The failure of `status` (not OK, not Cancelled) in `phase`. Retryable unless waiting
// cannot change the answer: InvalidArgument (the request or the configuration is wrong).
// Everything else heals with time: the network, the upstream (even 404: a repository can
// come back, 401/403: a token can be fixed), the disk, a resource another download holds
// (FailedPrecondition), data that failed verification. retry_after_seconds is the status's
// typed retry_after.
RunFailure ClassifyFailure(FailurePhase phase, const Status& status);

// The `reason` label of mirrord_sync_failures_total: "rate_limited" (ResourceExhausted with a
// wait), "lfs" (failed in the LFS phase), else by code: "not_found", "permission_denied",
// "unavailable", "timeout", "data_loss", "disk", "other".
std::string_view FailureMetricLabel(const RunFailure& failure);

}  // namespace mirrord
