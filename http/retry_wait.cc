#include "http/retry_wait.h"

#include <algorithm>
#include <thread>

namespace mirrord {

Status WaitFor(const RetryTiming& timing, std::chrono::milliseconds duration,
               const std::function<bool()>& stop_requested) {
  constexpr auto kSlice = std::chrono::milliseconds(100);
  auto cancelled = [&] { return stop_requested && stop_requested(); };
  if (cancelled()) return Cancelled("cancelled");
  if (timing.sleep) {
    timing.sleep(duration);
  } else {
    auto deadline = std::chrono::steady_clock::now() + duration;
    while (!cancelled()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(kSlice, deadline - now));
    }
  }
  if (cancelled()) return Cancelled("cancelled");
  return Status::Ok();
}

}  // namespace mirrord
