#include "daemon/auth_failure_limiter.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "daemon/client_key.h"

namespace mirrord {

std::string ClientKeyOfPeer(std::string_view peer) {
  std::string_view host = peer;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(1, close - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  boost::system::error_code ec;
  boost::asio::ip::address address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::string(peer);
  return ClientKey(address);
}

std::optional<std::chrono::seconds> AuthFailureLimiter::Blocked(const std::string& client) {
  const auto now = clock_.SteadyNow();
  std::lock_guard lock(mu_);
  auto it = entries_.find(client);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.window_end <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  if (it->second.failures < limits_.max_failures) return std::nullopt;
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.window_end - now);
  return std::max(left, std::chrono::seconds(1));
}

void AuthFailureLimiter::RecordFailure(const std::string& client) {
  const auto now = clock_.SteadyNow();
  std::lock_guard lock(mu_);
  auto it = entries_.find(client);
  if (it != entries_.end() && it->second.window_end <= now) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    MakeRoomLocked(now);
    it = entries_.emplace(client, Entry{0, now + limits_.window}).first;
  }
  ++it->second.failures;
}

void AuthFailureLimiter::MakeRoomLocked(std::chrono::steady_clock::time_point now) {
  if (entries_.size() < limits_.max_clients) return;
  std::erase_if(entries_, [now](const auto& e) { return e.second.window_end <= now; });
  while (!entries_.empty() && entries_.size() >= limits_.max_clients) {
    auto soonest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.window_end < b.second.window_end; });
    entries_.erase(soonest);
  }
}

}  // namespace mirrord
