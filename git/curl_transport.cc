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
#include "git/upload_pack_request.h"
#include "http/curl_handles.h"
#include "http/curl_session.h"
#include "http/http_status.h"
#include "http/response_headers.h"
#include "http/url.h"

namespace mirrord {
namespace {

constexpr std::string_view kInfoRefsSuffix = "/info/refs?service=git-upload-pack";
constexpr std::string_view kUploadPackSuffix = "/git-upload-pack";
constexpr std::string_view kAdvertisementType = "application/x-git-upload-pack-advertisement";
constexpr std::string_view kResultType = "application/x-git-upload-pack-result";
constexpr size_t kMaxErrorBody = 1024;
constexpr auto kPollInterval = std::chrono::milliseconds(100);  // cancellation latency
// A rate limit that names no wait is waited out this long.
constexpr auto kDefaultRateLimitWait = std::chrono::seconds(60);

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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

  std::unique_ptr<CurlSession> session_;
  CurlSlistPtr headers_;
  CurlSharePtr share_;
  bool started_ = false;
  bool done_ = false;
  Status final_status_;

  std::string buffer_;
  size_t buffer_pos_ = 0;
  bool head_checked_ = false;
  Status head_status_;  // set when the response head was unacceptable
  long http_code_ = 0;
  std::string error_body_;            // start of the body of an error response
  ResponseHeaders response_headers_;  // of the current response (bounded)
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
  CurlSharePtr share;            // connection, DNS and TLS session cache across requests
  std::string redirected_base;   // the repo URL after the advertisement's redirects
  bool send_credentials = true;  // false once redirected to another origin

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
  session_.reset();  // before the share its handle is attached to
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
  ASSIGN_OR_RETURN(session_, CurlSession::Create());
  HttpRequestOptions request;
  request.user_agent = "git/2.0 (mirrord; libgit2 " LIBGIT2_VERSION ")";
  request.connect_timeout = opt.connect_timeout;
  // Like git's http.followRedirects=initial: only the advertisement follows redirects; the
  // POSTs go to where it ended up.
  request.max_redirects = post_ ? 0 : opt.max_redirects;
  if (sub_->send_credentials) request.token = opt.token;
  // The stall timeout is enforced by Fill(), not CURLOPT_LOW_SPEED_TIME: curl averages the
  // speed over a window of several seconds, so a stall right after a burst would be noticed
  // only that much later.
  CURL* e = session_->Prepare(request_url_, request);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlStream::OnData);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlStream::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  if (share_) curl_easy_setopt(e, CURLOPT_SHARE, share_.get());
  std::vector<std::string> lines;
  if (post_) {
    if (!opt.extra_haves.empty()) request_body_ = WithExtraHaves(request_body_, opt.extra_haves);
    lines = {"Content-Type: application/x-git-upload-pack-request",
             "Accept: application/x-git-upload-pack-result",
             "Expect:"};  // no 100-continue round trip
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_body_.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body_.size()));
  } else {
    lines = {"Accept: */*"};
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  ASSIGN_OR_RETURN(headers_, MakeHeaderList(lines));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_.get());
  return session_->Start();
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
    CURLcode result = CURLE_OK;
    ASSIGN_OR_RETURN(bool ended, session_->Pump(&result));
    if (ended) {
      done_ = true;
      final_status_ = Finish(result);
    }
    // A bad response head stops the transfer early (the data callback refuses the body).
    if (!head_status_.ok()) return head_status_;
    if (!buffer_.empty()) return Status::Ok();
    if (done_) return final_status_;
    RETURN_IF_ERROR(session_->Wait(kPollInterval));
  }
  return Status::Ok();
}

Status CurlStream::HttpError(long code) const {
  HttpErrorContext context;
  context.subject = "upstream " + RedactUrlCredentials(repo_url_);
  context.resource = "repository";
  context.token_sent = !sub_->context->options().token.empty();
  context.default_rate_limit_wait = kDefaultRateLimitWait;
  return HttpStatusError(code, response_headers_, error_body_, context,
                         std::chrono::system_clock::now());
}

Status CurlStream::CheckResponseHead() {
  head_checked_ = true;
  http_code_ = session_->ResponseCode();
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
  curl_easy_getinfo(session_->easy(), CURLINFO_CONTENT_TYPE, &type);
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
    curl_easy_getinfo(session_->easy(), CURLINFO_EFFECTIVE_URL, &effective);
    std::string eff = effective != nullptr ? effective : "";
    if (!eff.empty() && eff != request_url_ && EndsWith(eff, kInfoRefsSuffix)) {
      sub_->redirected_base = eff.substr(0, eff.size() - kInfoRefsSuffix.size());
      if (!SameOrigin(eff, request_url_)) sub_->send_credentials = false;
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
      http_code_ = session_->ResponseCode();
    }
  }
  if (http_code_ >= 400) return HttpError(http_code_);
  if (result == CURLE_OK) return Status::Ok();
  return session_->TransferError(result, "fetch from " + RedactUrlCredentials(repo_url_));
}

size_t CurlStream::OnHeader(char* data, size_t size, size_t nmemb, void* self) {
  auto* stream = static_cast<CurlStream*>(self);
  stream->last_activity_ = std::chrono::steady_clock::now();
  stream->response_headers_.OnLine(std::string_view(data, size * nmemb));
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
  sub->share = MakeConnectionShare();
  *out = &sub->handle.parent;
  return 0;
}

}  // namespace

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
