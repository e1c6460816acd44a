#include "git/curl_transport.h"

#include <curl/curl.h>
#include <git2/sys/transport.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/log.h"
#include "common/rate_limit.h"
#include "git/upload_pack_request.h"
#include "lfs/upstream_http.h"

namespace mirrord {
namespace {

constexpr std::string_view kInfoRefsSuffix = "/info/refs?service=git-upload-pack";
constexpr std::string_view kUploadPackSuffix = "/git-upload-pack";
constexpr std::string_view kAdvertisementType = "application/x-git-upload-pack-advertisement";
constexpr std::string_view kResultType = "application/x-git-upload-pack-result";
constexpr size_t kMaxErrorBody = 1024;
constexpr int kPollMillis = 100;  // cancellation latency

struct CurlEasyDeleter {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* p) const { curl_multi_cleanup(p); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* p) const { curl_share_cleanup(p); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* p) const { curl_slist_free_all(p); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* p) const { curl_url_cleanup(p); }
};
struct CurlFreeDeleter {
  void operator()(char* p) const { curl_free(p); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;
using CurlStringPtr = std::unique_ptr<char, CurlFreeDeleter>;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "scheme://host:port" in lower case, or empty if the URL does not parse.
std::string Origin(const std::string& url) {
  CurlUrlPtr u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "";
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* raw = nullptr;
    if (curl_url_get(u.get(), which, &raw, flags) != CURLUE_OK || raw == nullptr) return "";
    CurlStringPtr owned(raw);
    return owned.get();
  };
  std::string origin = part(CURLUPART_SCHEME, 0) + "://" + part(CURLUPART_HOST, 0) + ":" +
                       part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return origin;
}

std::string DefaultReason(long code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

// The first line of a short error body, made safe for a one-line message.
std::string FirstLine(std::string_view body) {
  size_t end = body.find_first_of("\r\n");
  std::string line(body.substr(0, end));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) c = ' ';
  }
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  // An HTML error page says nothing useful in one line.
  if (line.find('<') != std::string::npos) return "";
  return line;
}

struct CurlSubtransport;

// One HTTP request/response: the ref advertisement (GET) or one upload-pack round (POST).
class CurlStream {
 public:
  CurlStream(CurlSubtransport* sub, std::string repo_url, std::string request_url, bool post);
  ~CurlStream();
  CurlStream(const CurlStream&) = delete;
  CurlStream& operator=(const CurlStream&) = delete;

  git_smart_subtransport_stream* git_stream() { return &handle_.parent; }
  static CurlStream* FromGit(git_smart_subtransport_stream* s) {
    return reinterpret_cast<Handle*>(s)->self;
  }

  int Read(char* buffer, size_t size, size_t* bytes_read);
  int Write(const char* data, size_t len);

 private:
  // Standard layout, so a git_smart_subtransport_stream* converts back to the Handle.
  struct Handle {
    git_smart_subtransport_stream parent;
    CurlStream* self;
  };

  Status Start();
  // Pumps curl until bytes are buffered or the transfer ends. OK with an empty buffer
  // means end of response.
  Status Fill();
  Status CheckResponseHead();
  Status Finish(CURLcode result);
  Status HttpError(long code) const;
  // How long a rate-limited response asks us to wait: Retry-After, else X-RateLimit-Reset,
  // else a minute.
  std::chrono::seconds RateLimitWait() const;
  // Records `status` in the context and as libgit2's error; returns -1.
  int Fail(const Status& status);

  static size_t OnData(char* data, size_t size, size_t nmemb, void* self);
  static size_t OnHeader(char* data, size_t size, size_t nmemb, void* self);

  Handle handle_;
  CurlSubtransport* sub_;
  std::string repo_url_;  // for messages (the URL the user configured, redacted on use)
  std::string request_url_;
  bool post_;
  std::string request_body_;

  CurlEasyPtr easy_;
  CurlMultiPtr multi_;
  CurlSlistPtr headers_;
  std::shared_ptr<CURLSH> share_;
  bool started_ = false;
  bool done_ = false;
  Status final_status_;

  std::string buffer_;
  size_t buffer_pos_ = 0;
  bool head_checked_ = false;
  Status head_status_;  // set when the response head was unacceptable
  long http_code_ = 0;
  std::string reason_;      // reason phrase of the last status line
  std::string error_body_;  // start of the body of an error response
  // Rate-limit headers of the current response (bounded copies).
  std::string retry_after_;
  std::string rate_limit_remaining_;
  std::string rate_limit_reset_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
  // When curl last delivered a header or body byte.
  std::chrono::steady_clock::time_point last_activity_;
};

struct CurlSubtransport {
  // Standard layout, so a git_smart_subtransport* converts back to the Handle.
  struct Handle {
    git_smart_subtransport parent;
    CurlSubtransport* self;
  };

  Handle handle;
  git_transport* owner = nullptr;
  HttpTransportContext* context = nullptr;
  std::shared_ptr<CURLSH> share;  // connection, DNS and TLS session cache across requests
  std::string redirected_base;    // the repo URL after the advertisement's redirects
  bool send_credentials = true;   // false once redirected to another origin

  static CurlSubtransport* FromGit(git_smart_subtransport* t) {
    return reinterpret_cast<Handle*>(t)->self;
  }
};

CurlStream::CurlStream(CurlSubtransport* sub, std::string repo_url, std::string request_url,
                       bool post)
    : sub_(sub),
      repo_url_(std::move(repo_url)),
      request_url_(std::move(request_url)),
      post_(post),
      share_(sub->share) {
  std::memset(&handle_, 0, sizeof handle_);
  handle_.self = this;
  handle_.parent.subtransport = &sub->handle.parent;
  handle_.parent.read = [](git_smart_subtransport_stream* s, char* buffer, size_t size,
                           size_t* bytes_read) {
    return FromGit(s)->Read(buffer, size, bytes_read);
  };
  handle_.parent.write = [](git_smart_subtransport_stream* s, const char* data, size_t len) {
    return FromGit(s)->Write(data, len);
  };
  handle_.parent.free = [](git_smart_subtransport_stream* s) { delete FromGit(s); };
}

CurlStream::~CurlStream() {
  if (multi_ && easy_) curl_multi_remove_handle(multi_.get(), easy_.get());
  easy_.reset();  // before the multi handle and the share it is attached to
  multi_.reset();
}

int CurlStream::Fail(const Status& status) {
  sub_->context->RecordError(status);
  git_error_set_str(GIT_ERROR_NET, status.message().c_str());
  return -1;
}

int CurlStream::Write(const char* data, size_t len) {
  if (!post_ || started_) {
    return Fail(Internal("libgit2 wrote to an HTTP stream that is not accepting a body"));
  }
  request_body_.append(data, len);
  return 0;
}

int CurlStream::Read(char* buffer, size_t size, size_t* bytes_read) {
  *bytes_read = 0;
  if (buffer_pos_ == buffer_.size()) {
    if (Status s = Fill(); !s.ok()) return Fail(s);
  }
  size_t n = std::min(size, buffer_.size() - buffer_pos_);
  std::memcpy(buffer, buffer_.data() + buffer_pos_, n);
  buffer_pos_ += n;
  *bytes_read = n;
  return 0;
}

Status CurlStream::Start() {
  started_ = true;
  const HttpTransportOptions& opt = sub_->context->options();
  easy_.reset(curl_easy_init());
  multi_.reset(curl_multi_init());
  if (!easy_ || !multi_) return ResourceExhausted("cannot allocate a curl handle");
  CURL* e = easy_.get();
  curl_easy_setopt(e, CURLOPT_URL, request_url_.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlStream::OnData);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlStream::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(opt.connect_timeout.count()));
  // The stall timeout is enforced by Fill(), not CURLOPT_LOW_SPEED_TIME: curl averages the
  // speed over a window of several seconds, so a stall right after a burst would be noticed
  // only that much later.
  curl_easy_setopt(e, CURLOPT_USERAGENT, "git/2.0 (mirrord; libgit2 " LIBGIT2_VERSION ")");
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  // Never follow a redirect from https down to plain http.
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
                   StartsWithNoCase(request_url_, "https://") ? "https" : "http,https");
  if (share_) curl_easy_setopt(e, CURLOPT_SHARE, share_.get());
  if (!opt.token.empty() && sub_->send_credentials) {
    // curl never sends these to another host on a redirect (CURLOPT_UNRESTRICTED_AUTH off).
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, "x-access-token");
    curl_easy_setopt(e, CURLOPT_PASSWORD, opt.token.c_str());
  }
  curl_slist* list = nullptr;
  auto add = [&](const char* header) {
    curl_slist* next = curl_slist_append(list, header);
    if (next != nullptr) list = next;
  };
  if (post_) {
    if (!opt.extra_haves.empty()) request_body_ = WithExtraHaves(request_body_, opt.extra_haves);
    add("Content-Type: application/x-git-upload-pack-request");
    add("Accept: application/x-git-upload-pack-result");
    add("Expect:");  // no 100-continue round trip
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_body_.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body_.size()));
    // Like git's http.followRedirects=initial: only the advertisement follows redirects;
    // the POSTs go to where it ended up.
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  } else {
    add("Accept: */*");
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, opt.max_redirects);
  }
  headers_.reset(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_.get());
  CURLMcode mc = curl_multi_add_handle(multi_.get(), e);
  if (mc != CURLM_OK)
    return Internal(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
  return Status::Ok();
}

Status CurlStream::Fill() {
  buffer_.clear();
  buffer_pos_ = 0;
  if (!started_) RETURN_IF_ERROR(Start());
  // Only time spent waiting here counts towards the stall timeout: while libgit2 indexes
  // what it read, the upstream is not stalled, we are just not reading.
  const auto stall_timeout = sub_->context->options().stall_timeout;
  const auto wait_start = std::chrono::steady_clock::now();
  while (buffer_.empty()) {
    if (done_) return final_status_;
    if (sub_->context->cancel_requested()) return Cancelled("fetch cancelled");
    auto now = std::chrono::steady_clock::now();
    if (now - std::max(wait_start, last_activity_) >= stall_timeout) {
      return DeadlineExceeded("upstream " + RedactUrlCredentials(repo_url_) + " sent no data for " +
                              std::to_string(stall_timeout.count()) + " s (stall timeout)");
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi_.get(), &running);
    if (mc != CURLM_OK)
      return Internal(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_.get()) {
        done_ = true;
        final_status_ = Finish(msg->data.result);
      }
    }
    // A bad response head stops the transfer early (the data callback refuses the body).
    if (!head_status_.ok()) return head_status_;
    if (!buffer_.empty()) return Status::Ok();
    if (done_) return final_status_;
    mc = curl_multi_poll(multi_.get(), nullptr, 0, kPollMillis, nullptr);
    if (mc != CURLM_OK) return Internal(std::string("curl_multi_poll: ") + curl_multi_strerror(mc));
  }
  return Status::Ok();
}

std::chrono::seconds CurlStream::RateLimitWait() const {
  const auto now = std::chrono::system_clock::now();
  if (auto after = ParseRetryAfter(retry_after_, now)) return *after;
  int64_t reset = 0;  // GitHub: unix seconds when the limit resets
  auto [end, ec] = std::from_chars(rate_limit_reset_.data(),
                                   rate_limit_reset_.data() + rate_limit_reset_.size(), reset);
  if (ec == std::errc() && end == rate_limit_reset_.data() + rate_limit_reset_.size()) {
    int64_t wait =
        reset - std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return std::chrono::seconds(std::clamp<int64_t>(wait, 0, 24 * 3600));
  }
  return std::chrono::seconds(60);  // the upstream did not say: a minute
}

Status CurlStream::HttpError(long code) const {
  std::string url = RedactUrlCredentials(repo_url_);
  std::string reason = reason_.empty() ? DefaultReason(code) : reason_;
  std::string what = "HTTP " + std::to_string(code) + (reason.empty() ? "" : " " + reason);
  std::string detail = FirstLine(error_body_);
  if (!detail.empty()) what += ": " + detail;
  if (code == 403 && rate_limit_remaining_ == "0") {
    return RateLimited("upstream " + url + " rate limit exhausted (" + what + ")", RateLimitWait());
  }
  if (code == 401 || code == 403) {
    bool with_token = !sub_->context->options().token.empty();
    return PermissionDenied("upstream " + url + " refused access (" + what + ")" +
                            (with_token ? "; check the upstream's token"
                                        : "; the repository may need a token (token_file)"));
  }
  if (code == 404 || code == 410)
    return NotFound("repository not found at " + url + " (" + what + ")");
  if (code == 429)
    return RateLimited("upstream " + url + " is rate limiting (" + what + ")", RateLimitWait());
  return Unavailable("upstream " + url + " answered " + what);
}

Status CurlStream::CheckResponseHead() {
  head_checked_ = true;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &http_code_);
  if (http_code_ >= 400) return Status::Ok();  // reported with its body once complete
  std::string url = RedactUrlCredentials(repo_url_);
  if (http_code_ >= 300) {
    return Unavailable("upstream " + url + " answered an unexpected redirect (HTTP " +
                       std::to_string(http_code_) + ")");
  }
  if (http_code_ < 200) {
    return Unavailable("upstream " + url + " answered HTTP " + std::to_string(http_code_));
  }
  char* type = nullptr;
  curl_easy_getinfo(easy_.get(), CURLINFO_CONTENT_TYPE, &type);
  std::string_view content_type = type != nullptr ? type : "";
  std::string_view expected = post_ ? kResultType : kAdvertisementType;
  if (!StartsWithNoCase(content_type, expected)) {
    return Unavailable("upstream " + url + " does not speak git's smart HTTP protocol " +
                       "(Content-Type \"" + std::string(content_type) + "\", expected \"" +
                       std::string(expected) + "\")");
  }
  if (!post_) {
    // Later requests go where the advertisement was redirected to (like git does), and the
    // token only ever goes to the origin the user configured.
    char* effective = nullptr;
    curl_easy_getinfo(easy_.get(), CURLINFO_EFFECTIVE_URL, &effective);
    std::string eff = effective != nullptr ? effective : "";
    if (!eff.empty() && eff != request_url_ && EndsWith(eff, kInfoRefsSuffix)) {
      sub_->redirected_base = eff.substr(0, eff.size() - kInfoRefsSuffix.size());
      if (Origin(eff) != Origin(request_url_)) sub_->send_credentials = false;
      MLOG(Info) << "upstream " << url << " redirected to "
                 << RedactUrlCredentials(sub_->redirected_base);
    }
  }
  return Status::Ok();
}

Status CurlStream::Finish(CURLcode result) {
  if (!head_status_.ok()) return head_status_;
  if (!head_checked_) {
    if (result == CURLE_OK) {
      // A response without a body: check its head now.
      head_status_ = CheckResponseHead();
      if (!head_status_.ok()) return head_status_;
    } else {
      curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &http_code_);
    }
  }
  if (http_code_ >= 400) return HttpError(http_code_);
  if (result == CURLE_OK) return Status::Ok();
  const HttpTransportOptions& opt = sub_->context->options();
  std::string url = RedactUrlCredentials(repo_url_);
  std::string message = errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(result);
  switch (result) {
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connect_us = 0;
      curl_easy_getinfo(easy_.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
      if (connect_us == 0) {
        return DeadlineExceeded("could not connect to upstream " + url + " within " +
                                std::to_string(opt.connect_timeout.count()) + " s (" + message +
                                ")");
      }
      return DeadlineExceeded("fetch from " + url + ": " + message);
    }
    case CURLE_OUT_OF_MEMORY:
      return ResourceExhausted("fetch from " + url + ": " + message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgument("fetch from " + url + ": " + message);
    default:
      return Unavailable("fetch from " + url + ": " + message);
  }
}

size_t CurlStream::OnHeader(char* data, size_t size, size_t nmemb, void* self) {
  auto* stream = static_cast<CurlStream*>(self);
  stream->last_activity_ = std::chrono::steady_clock::now();
  std::string_view line(data, size * nmemb);
  if (line.starts_with("HTTP/")) {
    // "HTTP/1.1 404 Not Found\r\n": a new response (each redirect hop starts one).
    stream->reason_.clear();
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 != std::string_view::npos) {
      std::string_view reason = line.substr(sp2 + 1);
      while (!reason.empty() && (reason.back() == '\r' || reason.back() == '\n')) {
        reason.remove_suffix(1);
      }
      stream->reason_ = FirstLine(reason);
    }
    stream->retry_after_.clear();
    stream->rate_limit_remaining_.clear();
    stream->rate_limit_reset_.clear();
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    value = value.substr(0, 64);
    if (EqualsNoCase(name, "retry-after")) stream->retry_after_ = value;
    if (EqualsNoCase(name, "x-ratelimit-remaining")) stream->rate_limit_remaining_ = value;
    if (EqualsNoCase(name, "x-ratelimit-reset")) stream->rate_limit_reset_ = value;
  }
  return size * nmemb;
}

size_t CurlStream::OnData(char* data, size_t size, size_t nmemb, void* self) {
  auto* stream = static_cast<CurlStream*>(self);
  stream->last_activity_ = std::chrono::steady_clock::now();
  size_t n = size * nmemb;
  if (!stream->head_checked_) {
    stream->head_status_ = stream->CheckResponseHead();
    if (!stream->head_status_.ok()) return 0;  // aborts the transfer
  }
  if (stream->http_code_ >= 400) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, stream->error_body_.size());
    stream->error_body_.append(data, std::min(room, n));
    return room == 0 ? 0 : n;  // enough to explain the error; stop downloading the rest
  }
  stream->buffer_.append(data, n);
  return n;
}

int SubtransportAction(git_smart_subtransport_stream** out, git_smart_subtransport* transport,
                       const char* url, git_smart_service_t action) {
  *out = nullptr;
  CurlSubtransport* sub = CurlSubtransport::FromGit(transport);
  std::string repo_url = url != nullptr ? url : "";
  while (!repo_url.empty() && repo_url.back() == '/') repo_url.pop_back();
  std::string request;
  bool post = false;
  switch (action) {
    case GIT_SERVICE_UPLOADPACK_LS:
      sub->redirected_base.clear();
      sub->send_credentials = true;
      request = repo_url + std::string(kInfoRefsSuffix);
      break;
    case GIT_SERVICE_UPLOADPACK:
      request = (sub->redirected_base.empty() ? repo_url : sub->redirected_base) +
                std::string(kUploadPackSuffix);
      post = true;
      break;
    default: {
      Status s = FailedPrecondition("pushing to an upstream is not supported");
      sub->context->RecordError(s);
      git_error_set_str(GIT_ERROR_NET, s.message().c_str());
      return -1;
    }
  }
  auto* stream = new CurlStream(sub, repo_url, std::move(request), post);
  *out = stream->git_stream();
  return 0;
}

int SubtransportClose(git_smart_subtransport*) { return 0; }

void SubtransportFree(git_smart_subtransport* transport) {
  delete CurlSubtransport::FromGit(transport);
}

// A git_smart_subtransport_cb; it must not fail (libgit2 1.5 frees `*out` on failure).
int CreateSubtransport(git_smart_subtransport** out, git_transport* owner, void* param) {
  auto* sub = new CurlSubtransport();
  std::memset(&sub->handle, 0, sizeof sub->handle);
  sub->handle.self = sub;
  sub->handle.parent.action = SubtransportAction;
  sub->handle.parent.close = SubtransportClose;
  sub->handle.parent.free = SubtransportFree;
  sub->owner = owner;
  sub->context = static_cast<HttpTransportContext*>(param);
  if (CURLSH* share = curl_share_init()) {
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    sub->share.reset(share, CurlShareDeleter());
  }
  *out = &sub->handle.parent;
  return 0;
}

}  // namespace

bool IsHttpUrl(std::string_view url) {
  return StartsWithNoCase(url, "http://") || StartsWithNoCase(url, "https://");
}

int CreateHttpTransport(git_transport** out, git_remote* owner, HttpTransportContext* context) {
  const char* url = git_remote_url(owner);
  if (url == nullptr || !IsHttpUrl(url)) return git_transport_new(out, owner, url);
  if (Status s = EnsureCurlInitialized(); !s.ok()) {
    context->RecordError(s);
    git_error_set_str(GIT_ERROR_NET, s.message().c_str());
    return -1;
  }
  // git_transport_smart reads the definition only while creating the transport.
  git_smart_subtransport_definition definition = {CreateSubtransport, /*rpc=*/1, context};
  return git_transport_smart(out, owner, &definition);
}

}  // namespace mirrord
