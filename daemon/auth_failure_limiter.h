// AuthFailureLimiter: slows down guessing of read tokens. Each client (daemon/client_key.h:
// an IPv4 address or an IPv6 /64) may fail authentication `max_failures` times within a
// `window`; after that every request of it that carries credentials is refused with 429
// and Retry-After until the window that started with its first counted failure ends.
// Memory is bounded: at most `max_clients` clients are tracked; when full, expired entries
// go first, then the entry whose window ends soonest (an attacker cycling through addresses
// can only make others' counters restart, never grow the table).
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace mirrord {

struct AuthFailureLimits {
  int max_failures = 10;
  std::chrono::seconds window{60};
  size_t max_clients = 10000;
};

// The per-client key of a peer as HttpExchange::peer() writes it ("192.0.2.7:5312",
// "[2001:db8::1]:443"); the text itself when it is not such an address.
std::string ClientKeyOfPeer(std::string_view peer);

class AuthFailureLimiter {
 public:
  // `clock` must outlive the limiter.
  explicit AuthFailureLimiter(const Clock& clock, AuthFailureLimits limits = {})
      : clock_(clock), limits_(limits) {}

  // How long `client` must wait before its credentials are looked at again; nullopt when
  // it may try now.
  std::optional<std::chrono::seconds> Blocked(const std::string& client);
  // Counts one failed authentication of `client`.
  void RecordFailure(const std::string& client);

 private:
  struct Entry {
    int failures = 0;
    std::chrono::steady_clock::time_point window_end;
  };
  void MakeRoomLocked(std::chrono::steady_clock::time_point now);

  const Clock& clock_;
  const AuthFailureLimits limits_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;  // guarded by mu_
};

}  // namespace mirrord
