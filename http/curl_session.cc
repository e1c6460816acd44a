#include "http/curl_session.h"

#include "http/curl_status.h"
#include "http/url.h"

namespace mirrord {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);

}  // namespace

CurlSession::CurlSession(CurlEasyPtr easy, CurlMultiPtr multi)
    : easy_(std::move(easy)), multi_(std::move(multi)) {}

CurlSession::~CurlSession() {
  Detach();
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

void CurlSession::Detach() {
  if (attached_) curl_multi_remove_handle(multi_.get(), easy_.get());
  attached_ = false;
}

CURL* CurlSession::Prepare(const std::string& url, const HttpRequestOptions& options) {
  Detach();
  CURL* e = easy_.get();
  curl_easy_reset(e);
  errbuf_[0] = '\0';
  connect_timeout_ = options.connect_timeout;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  if (options.total_timeout.count() > 0) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT, static_cast<long>(options.total_timeout.count()));
  }
  if (options.max_redirects > 0) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, options.max_redirects);
    // Never from https down to plain http.
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
                     UrlOrigin(url).starts_with("https://") ? "https" : "http,https");
    if (options.keep_post_on_redirect) {
      curl_easy_setopt(e, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
    }
  }
  if (!options.token.empty()) {
    // curl sends these only to the host, port and scheme of the request URL, never to where
    // a redirect leads (CURLOPT_UNRESTRICTED_AUTH stays off).
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, "x-access-token");
    curl_easy_setopt(e, CURLOPT_PASSWORD, options.token.c_str());
  }
  if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (options.buffer_size > 0) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, options.buffer_size);
  return e;
}

Status CurlSession::Start() {
  Detach();
  CURLMcode mc = curl_multi_add_handle(multi_.get(), easy_.get());
  if (mc != CURLM_OK) {
    return Internal(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
  }
  attached_ = true;
  return Status::Ok();
}

Result<bool> CurlSession::Pump(CURLcode* result) {
  int running = 0;
  CURLMcode mc = curl_multi_perform(multi_.get(), &running);
  if (mc != CURLM_OK) {
    return Internal(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_.get()) {
      *result = msg->data.result;
      Detach();
      return true;
    }
  }
  return false;
}

Status CurlSession::Wait(std::chrono::milliseconds timeout) {
  CURLMcode mc =
      curl_multi_poll(multi_.get(), nullptr, 0, static_cast<int>(timeout.count()), nullptr);
  if (mc != CURLM_OK) return Internal(std::string("curl_multi_poll: ") + curl_multi_strerror(mc));
  return Status::Ok();
}

Status CurlSession::Perform(const std::function<bool()>& stop_requested,
                            std::chrono::milliseconds stall_timeout, CURLcode* result) {
  *result = CURLE_OK;
  RETURN_IF_ERROR(Start());
  CURL* e = easy_.get();
  auto last_activity = std::chrono::steady_clock::now();
  curl_off_t last_down = -1, last_up = -1;
  long last_code = 0;
  while (true) {
    if (stop_requested && stop_requested()) {
      Detach();
      return Cancelled("transfer cancelled");
    }
    Result<bool> done = Pump(result);
    if (!done.ok()) {
      Detach();
      return done.status();
    }
    if (*done) return Status::Ok();
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
      Detach();
      return DeadlineExceeded("no data for " + std::to_string(stall_timeout.count()) +
                              " ms (stall timeout)");
    }
    if (Status s = Wait(kPollInterval); !s.ok()) {
      Detach();
      return s;
    }
  }
}

std::string CurlSession::ErrorText(CURLcode code) const {
  return errbuf_[0] != '\0' ? std::string(errbuf_) : std::string(curl_easy_strerror(code));
}

Status CurlSession::TransferError(CURLcode code, std::string_view what) const {
  if (code == CURLE_OPERATION_TIMEDOUT) {
    curl_off_t connect_us = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
    if (connect_us == 0) {
      return DeadlineExceeded(std::string(what) + ": could not connect within " +
                              std::to_string(connect_timeout_.count()) + " s (" + ErrorText(code) +
                              ")");
    }
  }
  return CurlStatus(code, what, ErrorText(code));
}

long CurlSession::ResponseCode() const {
  long code = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &code);
  return code;
}

}  // namespace mirrord
