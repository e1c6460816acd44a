#include "daemon/sync_failure.h"

namespace mirrord {

RunFailure ClassifyFailure(FailurePhase phase, const Status& status) {
  RunFailure f;
  f.phase = phase;
  f.code = std::string(StatusCodeName(status.code()));
  f.retryable = status.code() != StatusCode::kInvalidArgument;
  if (status.retry_after()) f.retry_after_seconds = status.retry_after()->count();
  return f;
}

std::string_view FailureMetricLabel(const RunFailure& failure) {
  if (failure.code == StatusCodeName(StatusCode::kResourceExhausted) &&
      failure.retry_after_seconds) {
    return "rate_limited";
  }
  if (failure.phase == FailurePhase::kLfs) return "lfs";
  static constexpr std::pair<StatusCode, std::string_view> kByCode[] = {
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kPermissionDenied, "permission_denied"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kDeadlineExceeded, "timeout"},
      {StatusCode::kDataLoss, "data_loss"},
      {StatusCode::kResourceExhausted, "disk"},
  };
  for (const auto& [code, label] : kByCode) {
    if (failure.code == StatusCodeName(code)) return label;
  }
  return "other";
}

}  // namespace mirrord
