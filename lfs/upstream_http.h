// The HTTP plumbing shared by the LFS upstream client (lfs/batch_client.h) and the object
// downloader (lfs/object_downloader.h): libcurl handles in unique_ptrs, a session that runs
// one transfer at a time while watching a cancel flag and a stall timeout every 100 ms, the
// per-host connection limit, and the retry timing (Retry-After, backoff with full jitter)
// with seams for the clock, the sleep and the random numbers so that tests do not wait.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"
#include "common/status.h"

namespace mirrord {

struct CurlEasyDeleter {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* p) const { curl_multi_cleanup(p); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* p) const { curl_slist_free_all(p); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// curl_global_init, once per process. OK on success (and on every later call); Internal if
// libcurl could not initialise.
Status EnsureCurlInitialized();

// One connection's worth of libcurl state: an easy handle driven by a multi handle of its
// own, so that a running transfer is checked for cancellation and stalls every 100 ms (an
// easy handle alone only calls back about once a second while nothing arrives). Reusing a
// session for the next request keeps its connection alive.
// Thread-safety: one thread at a time (a curl handle belongs to one thread).
class CurlSession {
 public:
  // Fails with ResourceExhausted when curl cannot allocate a handle.
  static Result<std::unique_ptr<CurlSession>> Create();
  ~CurlSession();
  CurlSession(const CurlSession&) = delete;
  CurlSession& operator=(const CurlSession&) = delete;

  // The easy handle, reset to defaults (curl_easy_reset keeps live connections and caches)
  // with the options every upstream request uses: no signals, the error buffer, http(s)
  // only. The caller sets the URL, headers and callbacks, then calls Perform().
  CURL* Prepare();

  // Runs the prepared transfer to its end. On return `*result` is curl's outcome (CURLE_OK
  // for any complete HTTP response, whatever its status) and the returned Status is OK;
  // Cancelled if `stop_requested` (asked every 100 ms at least; may be empty) returned true,
  // DeadlineExceeded if no byte moved for `stall_timeout` (zero: no limit): the transfer is
  // then abandoned and `*result` is meaningless. Internal if the multi interface fails.
  Status Perform(const std::function<bool()>& stop_requested,
                 std::chrono::milliseconds stall_timeout, CURLcode* result);

  // curl's message for the last transfer (the error buffer, or the code's generic text).
  std::string ErrorText(CURLcode code) const;
  long ResponseCode() const;

 private:
  CurlSession(CurlEasyPtr easy, CurlMultiPtr multi);
  CurlEasyPtr easy_;
  CurlMultiPtr multi_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

// "scheme://host:port" of a URL, lower case, default port filled in; "" if it does not
// parse. Credentials only ever go to the origin they were configured for.
std::string UrlOrigin(std::string_view url);

// Splits a response header line "Name: value\r\n" into (name, trimmed value); nullopt for a
// status line or a blank line.
std::optional<std::pair<std::string_view, std::string_view>> SplitHeaderLine(std::string_view line);

// The first line of an error body, made safe for a one-line message (control characters
// replaced, cut at 200 characters, empty for an HTML page).
std::string FirstLineOf(std::string_view body);

// Parses a Retry-After value: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
// 07:28:00 GMT", measured from `now`; a date in the past gives zero). nullopt when it is
// neither.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now);

// How retries wait. Tests replace `sleep` (record the wait, return at once) and fix `seed`.
struct RetryTiming {
  const Clock* clock = nullptr;  // nullptr: SystemClock
  // Waits `duration`. nullptr: a real sleep, cut short when the cancel flag is set.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::optional<uint64_t> seed;  // random jitter seed; nullopt: seeded from the system

  const Clock& GetClock() const { return clock != nullptr ? *clock : SystemClock::Instance(); }
};

// Exponential backoff with full jitter: the n-th retry (n = 0, 1, ...) waits a uniformly
// random time in [0, min(max, initial * 2^n)], which spreads clients that failed together.
// Thread-safety: thread-safe.
class JitterBackoff {
 public:
  JitterBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                std::optional<uint64_t> seed);
  std::chrono::milliseconds Delay(int retry);

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

// Waits `duration` with `timing.sleep`, or really (in slices of at most 100 ms, so that a
// stop is noticed promptly). Cancelled if `stop_requested` (may be empty) returns true
// before or after the wait.
Status WaitFor(const RetryTiming& timing, std::chrono::milliseconds duration,
               const std::function<bool()>& stop_requested);

// A stop predicate for a cancel flag (nullptr: never).
inline std::function<bool()> CancelFlag(const std::atomic<bool>* cancel) {
  return [cancel] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };
}

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

  // The key a URL is limited under: its lower-case "host:port" (default port filled in),
  // or the URL itself when it does not parse.
  static std::string HostKey(std::string_view url);

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
