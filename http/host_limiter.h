// A bounded number of connections per upstream host, shared by every download of the
// process ([lfs] per_host_connections).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "http/url.h"

namespace mirrord {

// Caps how many connections mirrord holds open to one upstream host at once, across every
// object being downloaded, so that several objects fetched in parallel, each over several
// ranged connections, do not trip an upstream's abuse limits or starve each other. A
// counting semaphore per host.
// Thread-safety: thread-safe; a Permit may be released on any thread.
class HostConnectionLimiter {
 public:
  // At most `max_per_host` (at least 1) permits per host are held at a time.
  explicit HostConnectionLimiter(int max_per_host);
  HostConnectionLimiter(const HostConnectionLimiter&) = delete;
  HostConnectionLimiter& operator=(const HostConnectionLimiter&) = delete;

  // One held connection slot; given back when destroyed. The limiter must outlive it.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept;
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    void Release();
    bool held() const { return limiter_ != nullptr; }

   private:
    friend class HostConnectionLimiter;
    Permit(HostConnectionLimiter* limiter, std::string host)
        : limiter_(limiter), host_(std::move(host)) {}
    HostConnectionLimiter* limiter_ = nullptr;
    std::string host_;
  };

  // Waits until a slot for `host` is free and takes it. Cancelled if `stop_requested` (may
  // be empty; asked at least every 100 ms) returns true first.
  Result<Permit> Acquire(std::string_view host, const std::function<bool()>& stop_requested = {});

  // Permits held for `host` now, and the most ever held at once (tests, metrics).
  int InUse(std::string_view host) const;
  int PeakInUse(std::string_view host) const;
  int max_per_host() const { return max_per_host_; }

  // The key a URL is limited under (http/url.h UrlHostKey).
  static std::string HostKey(std::string_view url) { return UrlHostKey(url); }

 private:
  void Return(const std::string& host);

  struct Slot {
    int in_use = 0;
    int peak = 0;
  };
  const int max_per_host_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Slot, std::less<>> hosts_;
};

}  // namespace mirrord
