// The download action of one LFS object, shared by the connections fetching its pieces:
// the part of ObjectDownloader::FetchPiece that decides when to ask the batch API for a
// fresh href, testable alone with a fake refresh and a fixed clock.
//
// An action is handed out with a generation number. A fresh one is asked for (through
// `refresh`) when there is none, when the one in use expires within `expiry_margin`, or
// when a connection reports that the upstream refused the generation it used (a refusal
// of an older generation was already answered by a newer action). At most `max_refreshes`
// fresh actions replace the first one; a refusal after that, or a failed refresh, is the
// object's error from then on (sticky: other connections stop too). A fresh action that is
// already expired is tried as it is (the server judges; asking again would loop).
// Thread-safety: thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "lfs/batch_client.h"

namespace mirrord {

class DownloadActionSlot {
 public:
  // A fresh action for the object, or why there is none.
  using Refresh = std::function<Result<LfsDownloadAction>()>;

  struct Use {
    LfsDownloadAction action;
    uint64_t generation = 0;
  };

  // `what` names the object in messages ("LFS object <oid>"); `clock` must outlive the slot.
  DownloadActionSlot(std::string what, std::optional<LfsDownloadAction> initial, Refresh refresh,
                     int max_refreshes, std::chrono::seconds expiry_margin, const Clock& clock);

  // The action to use now. `refused`: the generation whose href the upstream refused on
  // this connection, and the refusal (PermissionDenied...). Errors: the refresh's error, or
  // PermissionDenied when the upstream keeps refusing after `max_refreshes` fresh actions.
  Result<Use> Current(std::optional<uint64_t> refused_generation = std::nullopt,
                      const Status& refusal = Status::Ok());

  // Fresh actions obtained after the first one.
  int refreshes() const;

 private:
  const std::string what_;
  const Refresh refresh_;
  const int max_refreshes_;
  const std::chrono::seconds expiry_margin_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::optional<LfsDownloadAction> action_;
  uint64_t generation_ = 0;
  bool use_as_is_ = false;
  int refreshes_ = 0;
  Status error_;  // sticky
};

}  // namespace mirrord
