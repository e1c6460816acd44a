#include "lfs/upstream_http.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <thread>

namespace mirrord {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);

struct CurlUrlDeleter {
  void operator()(CURLU* p) const { curl_url_cleanup(p); }
};
struct CurlFreeDeleter {
  void operator()(char* p) const { curl_free(p); }
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The parts of a URL, or nullopt if curl cannot parse it.
struct UrlParts {
  std::string scheme, host, port;
};
std::optional<UrlParts> ParseUrl(std::string_view url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  std::string text(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return std::nullopt;
  }
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* raw = nullptr;
    if (curl_url_get(u.get(), which, &raw, flags) != CURLUE_OK || raw == nullptr) return "";
    std::unique_ptr<char, CurlFreeDeleter> owned(raw);
    return owned.get();
  };
  return UrlParts{Lower(part(CURLUPART_SCHEME, 0)), Lower(part(CURLUPART_HOST, 0)),
                  part(CURLUPART_PORT, CURLU_DEFAULT_PORT)};
}

}  // namespace

Status EnsureCurlInitialized() {
  static std::once_flag once;
  static Status outcome;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
      outcome = Internal(std::string("curl_global_init: ") + curl_easy_strerror(rc));
    }
  });
  return outcome;
}

// ---------------------------------------------------------------------------------------
// CurlSession

CurlSession::CurlSession(CurlEasyPtr easy, CurlMultiPtr multi)
    : easy_(std::move(easy)), multi_(std::move(multi)) {}

CurlSession::~CurlSession() {
  easy_.reset();  // before the multi handle whose connection pool it used
  multi_.reset();
}

Result<std::unique_ptr<CurlSession>> CurlSession::Create() {
  RETURN_IF_ERROR(EnsureCurlInitialized());
  CurlEasyPtr easy(curl_easy_init());
  CurlMultiPtr multi(curl_multi_init());
  if (!easy || !multi) return ResourceExhausted("cannot allocate a curl handle");
  return std::unique_ptr<CurlSession>(new CurlSession(std::move(easy), std::move(multi)));
}

CURL* CurlSession::Prepare() {
  CURL* e = easy_.get();
  curl_easy_reset(e);
  errbuf_[0] = '\0';
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  return e;
}

Status CurlSession::Perform(const std::function<bool()>& stop_requested,
                            std::chrono::milliseconds stall_timeout, CURLcode* result) {
  *result = CURLE_OK;
  CURL* e = easy_.get();
  CURLM* m = multi_.get();
  CURLMcode mc = curl_multi_add_handle(m, e);
  if (mc != CURLM_OK) {
    return Internal(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
  }
  struct Detach {
    CURLM* m;
    CURL* e;
    ~Detach() { curl_multi_remove_handle(m, e); }
  } detach{m, e};

  auto last_activity = std::chrono::steady_clock::now();
  curl_off_t last_down = -1, last_up = -1;
  long last_code = 0;
  while (true) {
    if (stop_requested && stop_requested()) return Cancelled("transfer cancelled");
    int running = 0;
    mc = curl_multi_perform(m, &running);
    if (mc != CURLM_OK) {
      return Internal(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
        *result = msg->data.result;
        return Status::Ok();
      }
    }
    // Any byte moved (or a response head arrived) counts as activity.
    curl_off_t down = 0, up = 0;
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    auto now = std::chrono::steady_clock::now();
    if (down != last_down || up != last_up || code != last_code) {
      last_down = down;
      last_up = up;
      last_code = code;
      last_activity = now;
    } else if (stall_timeout.count() > 0 && now - last_activity >= stall_timeout) {
      return DeadlineExceeded("no data for " + std::to_string(stall_timeout.count()) +
                              " ms (stall timeout)");
    }
    mc = curl_multi_poll(m, nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr);
    if (mc != CURLM_OK) {
      return Internal(std::string("curl_multi_poll: ") + curl_multi_strerror(mc));
    }
  }
}

std::string CurlSession::ErrorText(CURLcode code) const {
  return errbuf_[0] != '\0' ? std::string(errbuf_) : std::string(curl_easy_strerror(code));
}

long CurlSession::ResponseCode() const {
  long code = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &code);
  return code;
}

// ---------------------------------------------------------------------------------------
// Small helpers

std::string UrlOrigin(std::string_view url) {
  std::optional<UrlParts> parts = ParseUrl(url);
  if (!parts) return "";
  return parts->scheme + "://" + parts->host + ":" + parts->port;
}

std::optional<std::pair<std::string_view, std::string_view>> SplitHeaderLine(
    std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || line.starts_with("HTTP/")) return std::nullopt;
  std::string_view name = Trim(line.substr(0, colon));
  if (name.empty()) return std::nullopt;
  return std::make_pair(name, Trim(line.substr(colon + 1)));
}

std::string FirstLineOf(std::string_view body) {
  size_t end = body.find_first_of("\r\n");
  std::string line(body.substr(0, end));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) c = ' ';
  }
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  if (line.find('<') != std::string::npos) return "";  // an HTML page says nothing in a line
  return line;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return std::chrono::seconds::max();
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // An HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms (curl reads all).
  if (value.find(',') == std::string_view::npos && value.find(' ') == std::string_view::npos) {
    return std::nullopt;
  }
  std::string text(value);
  time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::seconds(0)) return std::chrono::seconds(0);
  // Round up: waiting a little longer than asked is the polite side.
  return std::chrono::ceil<std::chrono::seconds>(delta);
}

// ---------------------------------------------------------------------------------------
// Retry timing

JitterBackoff::JitterBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                             std::optional<uint64_t> seed)
    : initial_(std::max(std::chrono::milliseconds(1), initial)),
      max_(std::max(initial_, max)),
      rng_(seed ? *seed : std::random_device{}()) {}

std::chrono::milliseconds JitterBackoff::Delay(int retry) {
  int64_t cap = initial_.count();
  for (int i = 0; i < retry && cap < max_.count(); ++i) cap *= 2;
  cap = std::min(cap, max_.count());
  std::lock_guard lock(mu_);
  std::uniform_int_distribution<int64_t> dist(0, cap);
  return std::chrono::milliseconds(dist(rng_));
}

Status WaitFor(const RetryTiming& timing, std::chrono::milliseconds duration,
               const std::function<bool()>& stop_requested) {
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
          std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
    }
  }
  if (cancelled()) return Cancelled("cancelled");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// HostConnectionLimiter

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

std::string HostConnectionLimiter::HostKey(std::string_view url) {
  std::optional<UrlParts> parts = ParseUrl(url);
  if (!parts || parts->host.empty()) return std::string(url);
  return parts->host + ":" + parts->port;
}

}  // namespace mirrord
