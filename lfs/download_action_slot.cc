#include "lfs/download_action_slot.h"

#include "common/log.h"

namespace mirrord {

DownloadActionSlot::DownloadActionSlot(std::string what, std::optional<LfsDownloadAction> initial,
                                       Refresh refresh, int max_refreshes,
                                       std::chrono::seconds expiry_margin, const Clock& clock)
    : what_(std::move(what)),
      refresh_(std::move(refresh)),
      max_refreshes_(max_refreshes),
      expiry_margin_(expiry_margin),
      clock_(clock),
      action_(std::move(initial)) {}

int DownloadActionSlot::refreshes() const {
  std::lock_guard lock(mu_);
  return refreshes_;
}

Result<DownloadActionSlot::Use> DownloadActionSlot::Current(
    std::optional<uint64_t> refused_generation, const Status& refusal) {
  std::lock_guard lock(mu_);
  if (!error_.ok()) return error_;
  bool refresh = !action_.has_value();
  if (refused_generation.has_value() && *refused_generation == generation_) {
    if (refreshes_ >= max_refreshes_) {
      error_ = PermissionDenied("the upstream keeps refusing the download of " + what_ + " (" +
                                refusal.message() + ") after " + std::to_string(refreshes_) +
                                " fresh download actions");
      return error_;
    }
    refresh = true;
  }
  if (!refresh && !use_as_is_ && refreshes_ < max_refreshes_ &&
      action_->ExpiresWithin(clock_.Now(), expiry_margin_)) {
    refresh = true;
  }
  if (refresh) {
    if (action_.has_value()) ++refreshes_;
    Result<LfsDownloadAction> fresh = refresh_();
    if (!fresh.ok()) {
      error_ = fresh.status();
      return error_;
    }
    action_ = std::move(fresh).value();
    ++generation_;
    use_as_is_ = action_->ExpiresWithin(clock_.Now(), expiry_margin_);
    if (use_as_is_) {
      MLOG(Warning) << what_ << ": the upstream handed out an href that has already expired; "
                    << "trying it";
    }
  }
  return Use{*action_, generation_};
}

}  // namespace mirrord
