#include "lfs/batch_client.h"

#include <strings.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "http/curl_handles.h"
#include "http/curl_session.h"
#include "http/http_status.h"
#include "http/response_headers.h"
#include "http/url.h"
#include "lfs/batch_json.h"

namespace mirrord {
namespace {

// A batch answer for 100 objects is well under a megabyte; anything near this is not one.
constexpr size_t kMaxResponseBody = 16u << 20;
constexpr size_t kMaxErrorBody = 4096;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A per-object error of a batch answer reads like an HTTP answer for that object alone.
Status PerObjectStatus(const std::string& where, const std::string& oid,
                       const LfsObjectError& error, std::chrono::system_clock::time_point now) {
  HttpErrorContext context;
  context.subject = "LFS upstream " + where + " for object " + oid;
  context.resource = "LFS object " + oid;
  return HttpStatusError(error.code, ResponseHeaders(), error.message, context, now);
}

}  // namespace

struct LfsBatchClient::Reply {
  long code = 0;
  std::string body;
  bool body_too_large = false;
  ResponseHeaders headers;
};

std::string LfsBatchClient::EndpointForCloneUrl(std::string_view clone_url) {
  std::string url(clone_url);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.ends_with(".git")) url += ".git";
  return url + "/info/lfs";
}

LfsBatchClient::LfsBatchClient(std::string endpoint, LfsBatchClientOptions options)
    : endpoint_([&] {
        while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
        return std::move(endpoint);
      }()),
      options_(std::move(options)),
      backoff_(BackoffPolicy{options_.initial_backoff, options_.max_backoff, kFullJitter},
               options_.timing.seed) {}

Result<std::vector<LfsObjectSource>> LfsBatchClient::RequestDownload(
    const std::vector<LfsPointer>& objects, std::string_view ref) {
  std::vector<LfsObjectSource> all;
  all.reserve(objects.size());
  for (size_t begin = 0; begin < objects.size(); begin += kMaxLfsBatchObjects) {
    size_t end = std::min(objects.size(), begin + kMaxLfsBatchObjects);
    std::vector<LfsPointer> chunk(objects.begin() + static_cast<ptrdiff_t>(begin),
                                  objects.begin() + static_cast<ptrdiff_t>(end));
    ASSIGN_OR_RETURN(std::vector<LfsObjectSource> answered, RequestChunk(chunk, ref));
    for (LfsObjectSource& source : answered) all.push_back(std::move(source));
  }
  return all;
}

Status LfsBatchClient::Post(const std::string& body, Reply* reply) {
  *reply = Reply{};
  ASSIGN_OR_RETURN(std::unique_ptr<CurlSession> session, CurlSession::Create());
  HttpRequestOptions request;
  request.user_agent = options_.user_agent;
  request.connect_timeout = options_.connect_timeout;
  request.total_timeout = options_.request_timeout;
  request.max_redirects = options_.max_redirects;
  request.keep_post_on_redirect = true;  // git-lfs does the same
  request.token = options_.token;
  CURL* e = session->Prepare(endpoint_ + "/objects/batch", request);
  ASSIGN_OR_RETURN(CurlSlistPtr headers,
                   MakeHeaderList({"Accept: application/vnd.git-lfs+json",
                                   "Content-Type: application/vnd.git-lfs+json", "Expect:"}));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));

  auto on_data = +[](char* data, size_t size, size_t nmemb, void* user) -> size_t {
    auto* r = static_cast<Reply*>(user);
    size_t n = size * nmemb;
    if (r->body.size() + n > kMaxResponseBody) {
      r->body_too_large = true;
      return 0;  // aborts the transfer
    }
    r->body.append(data, n);
    return n;
  };
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &ResponseHeaders::CurlCallback);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, reply);

  CURLcode result = CURLE_OK;
  Status s = session->Perform(
      CancelFlag(options_.cancel),
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.stall_timeout), &result);
  if (s.code() == StatusCode::kCancelled) return Cancelled("LFS batch request cancelled");
  if (s.code() == StatusCode::kDeadlineExceeded) {
    return DeadlineExceeded("LFS batch request to " + RedactUrlCredentials(endpoint_) + ": " +
                            s.message());
  }
  RETURN_IF_ERROR(s);
  if (reply->body_too_large) {
    return InvalidArgument("LFS batch answer from " + RedactUrlCredentials(endpoint_) +
                           " is larger than " + std::to_string(kMaxResponseBody) + " bytes");
  }
  if (result != CURLE_OK) {
    return session->TransferError(result,
                                  "LFS batch request to " + RedactUrlCredentials(endpoint_));
  }
  reply->code = session->ResponseCode();
  return Status::Ok();
}

Result<std::vector<LfsObjectSource>> LfsBatchClient::RequestChunk(
    const std::vector<LfsPointer>& objects, std::string_view ref) {
  LfsBatchRequest request;
  request.operation = "download";
  request.transfers = {"basic"};
  request.ref = std::string(ref);
  for (const LfsPointer& p : objects) request.objects.push_back({p.oid, p.size});
  const std::string body = SerializeLfsBatchRequest(request);
  const std::string where = RedactUrlCredentials(endpoint_);
  const Clock& clock = options_.timing.GetClock();

  Status last;
  int backoff_retry = 0;
  for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
    attempts_.fetch_add(1);
    Reply reply;
    Status sent = Post(body, &reply);
    std::chrono::milliseconds wait{0};
    if (!sent.ok()) {
      if (sent.code() == StatusCode::kCancelled || sent.code() == StatusCode::kInvalidArgument ||
          sent.code() == StatusCode::kInternal || sent.code() == StatusCode::kResourceExhausted) {
        return sent;
      }
      last = sent;
      wait = backoff_.Delay(backoff_retry++);
    } else if (reply.code >= 200 && reply.code < 300) {
      const auto answered_at = clock.Now();
      Result<LfsBatchResponse> parsed = ParseLfsBatchResponse(reply.body);
      if (!parsed.ok()) {
        return InvalidArgument("LFS batch answer from " + where +
                               " is malformed: " + parsed.status().message());
      }
      if (!parsed->transfer.empty() && parsed->transfer != "basic") {
        return InvalidArgument("LFS upstream " + where + " chose transfer \"" + parsed->transfer +
                               "\"; only \"basic\" was offered");
      }
      std::unordered_map<std::string, const LfsBatchObjectResponse*> by_oid;
      for (const LfsBatchObjectResponse& o : parsed->objects) by_oid.emplace(o.oid, &o);
      std::vector<LfsObjectSource> out;
      out.reserve(objects.size());
      for (const LfsPointer& p : objects) {
        LfsObjectSource source{p, Status::Ok(), std::nullopt};
        auto it = by_oid.find(p.oid);
        if (it == by_oid.end()) {
          source.status =
              Unavailable("LFS upstream " + where + " did not answer for object " + p.oid);
        } else if (const LfsBatchObjectResponse& o = *it->second; o.error.has_value()) {
          source.status = PerObjectStatus(where, p.oid, *o.error, answered_at);
        } else if (o.size != p.size) {
          source.status = InvalidArgument("LFS upstream " + where + " says object " + p.oid +
                                          " has " + std::to_string(o.size) +
                                          " bytes; the pointer says " + std::to_string(p.size));
        } else if (!o.download.has_value() || o.download->href.empty()) {
          source.status =
              Unavailable("LFS upstream " + where + " gave no download action for object " + p.oid);
        } else {
          LfsDownloadAction action;
          action.href = o.download->href;
          action.header = o.download->header;
          if (o.download->expires_in.has_value()) {
            action.expires = answered_at + std::chrono::seconds(*o.download->expires_in);
          }
          if (!o.download->expires_at.empty()) {
            Result<int64_t> at = ParseRfc3339(o.download->expires_at);
            if (at.ok()) {
              auto t = std::chrono::system_clock::time_point(std::chrono::seconds(*at));
              if (!action.expires.has_value() || t < *action.expires) action.expires = t;
            } else {
              MLOG(Warning) << "LFS upstream " << where << ": ignoring expires_at of object "
                            << p.oid << ": " << at.status().message();
            }
          }
          bool has_authorization = false;
          for (const auto& [name, value] : action.header) {
            if (EqualsNoCase(name, "Authorization")) has_authorization = true;
          }
          action.send_token =
              !options_.token.empty() && !has_authorization && SameOrigin(action.href, endpoint_);
          source.action = std::move(action);
        }
        out.push_back(std::move(source));
      }
      return out;
    } else {
      // An LFS error body is JSON with a "message"; say that rather than the JSON.
      std::string detail = reply.body.substr(0, kMaxErrorBody);
      if (Result<LfsErrorBody> eb = ParseLfsErrorBody(reply.body); eb.ok()) detail = eb->message;
      HttpErrorContext context;
      context.subject = "LFS upstream " + where;
      context.resource = "repository";
      context.token_sent = !options_.token.empty();
      Status error = HttpStatusError(reply.code, reply.headers, detail, context, clock.Now());
      if (error.code() != StatusCode::kResourceExhausted &&
          error.code() != StatusCode::kUnavailable) {
        return error;  // refused: asking again gives the same answer
      }
      last = error;
      if (error.retry_after().has_value()) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::min(*error.retry_after(), options_.max_retry_after));
      } else {
        wait = backoff_.Delay(backoff_retry++);
      }
    }
    if (attempt + 1 >= options_.max_attempts) break;
    MLOG(Info) << last.message() << "; retrying in " << wait.count() << " ms";
    if (Status w = WaitFor(options_.timing, wait, CancelFlag(options_.cancel)); !w.ok()) {
      return Cancelled("LFS batch request cancelled");
    }
  }
  return last.WithContext("giving up after " + std::to_string(options_.max_attempts) + " attempts");
}

}  // namespace mirrord
