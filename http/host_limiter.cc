#include "http/host_limiter.h"

#include <algorithm>
#include <chrono>

namespace mirrord {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);

}  // namespace

HostConnectionLimiter::HostConnectionLimiter(int max_per_host)
    : max_per_host_(std::max(1, max_per_host)) {}

HostConnectionLimiter::Permit::Permit(Permit&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), host_(std::move(other.host_)) {}

HostConnectionLimiter::Permit& HostConnectionLimiter::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    host_ = std::move(other.host_);
  }
  return *this;
}

void HostConnectionLimiter::Permit::Release() {
  if (limiter_ != nullptr) std::exchange(limiter_, nullptr)->Return(host_);
}

Result<HostConnectionLimiter::Permit> HostConnectionLimiter::Acquire(
    std::string_view host, const std::function<bool()>& stop_requested) {
  auto cancelled = [&] { return stop_requested && stop_requested(); };
  std::unique_lock lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) it = hosts_.emplace(std::string(host), Slot{}).first;
  Slot& slot = it->second;  // map nodes are stable and never erased
  while (slot.in_use >= max_per_host_ && !cancelled()) cv_.wait_for(lock, kPollInterval);
  if (cancelled()) {
    return Cancelled("cancelled while waiting for a connection to " + std::string(host));
  }
  ++slot.in_use;
  slot.peak = std::max(slot.peak, slot.in_use);
  return Permit(this, std::string(host));
}

void HostConnectionLimiter::Return(const std::string& host) {
  {
    std::lock_guard lock(mu_);
    auto it = hosts_.find(host);
    if (it != hosts_.end() && it->second.in_use > 0) --it->second.in_use;
  }
  cv_.notify_all();
}

int HostConnectionLimiter::InUse(std::string_view host) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.in_use;
}

int HostConnectionLimiter::PeakInUse(std::string_view host) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.peak;
}

}  // namespace mirrord
