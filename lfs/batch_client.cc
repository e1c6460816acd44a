#include "lfs/batch_client.h"

#include <strings.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "lfs/batch_json.h"

namespace mirrord {
namespace {

// A batch answer for 100 objects is well under a megabyte; anything near this is not one.
constexpr size_t kMaxResponseBody = 16u << 20;
constexpr size_t kMaxErrorBody = 4096;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string ObjectErrorText(const LfsObjectError& error) {
  std::string text = "HTTP " + std::to_string(error.code);
  std::string detail = FirstLineOf(error.message);
  if (!detail.empty()) text += ": " + detail;
  return text;
}

Status PerObjectStatus(const std::string& oid, const LfsObjectError& error) {
  std::string what = "upstream refused LFS object " + oid + " (" + ObjectErrorText(error) + ")";
  switch (error.code) {
    case 404:
      return NotFound("upstream has no LFS object " + oid + " (" + ObjectErrorText(error) + ")");
    case 410:
      return NotFound("LFS object " + oid + " is gone from the upstream (" +
                      ObjectErrorText(error) + ")");
    case 422:
      return InvalidArgument(what);
    default:
      return Unavailable(what);
  }
}

}  // namespace

struct LfsBatchClient::Reply {
  long code = 0;
  std::string body;
  bool body_too_large = false;
  std::string retry_after;
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
      origin_(UrlOrigin(endpoint_)),
      options_(std::move(options)),
      backoff_(options_.initial_backoff, options_.max_backoff, options_.timing.seed) {}

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
  CURL* e = session->Prepare();
  std::string url = endpoint_ + "/objects/batch";
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, options_.max_redirects);
  // A redirected batch request stays a POST (git-lfs does the same), and never goes from
  // https down to plain http.
  curl_easy_setopt(e, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
                   origin_.starts_with("https://") ? "https" : "http,https");
  if (!options_.token.empty()) {
    // curl sends these only to the host, port and scheme of the request URL, never to where
    // a redirect leads (CURLOPT_UNRESTRICTED_AUTH stays off).
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(e, CURLOPT_USERNAME, "x-access-token");
    curl_easy_setopt(e, CURLOPT_PASSWORD, options_.token.c_str());
  }
  curl_slist* list = nullptr;
  for (const char* h : {"Accept: application/vnd.git-lfs+json",
                        "Content-Type: application/vnd.git-lfs+json", "Expect:"}) {
    if (curl_slist* next = curl_slist_append(list, h)) list = next;
  }
  CurlSlistPtr headers(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));

  auto on_header = +[](char* data, size_t size, size_t nmemb, void* user) -> size_t {
    auto* r = static_cast<Reply*>(user);
    std::string_view line(data, size * nmemb);
    if (line.starts_with("HTTP/")) {
      r->retry_after.clear();  // a new response (each redirect hop starts one)
    } else if (auto kv = SplitHeaderLine(line); kv && EqualsNoCase(kv->first, "Retry-After")) {
      r->retry_after = std::string(kv->second);
    }
    return size * nmemb;
  };
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
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, reply);
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
    std::string what = "LFS batch request to " + RedactUrlCredentials(endpoint_) + ": " +
                       session->ErrorText(result);
    if (result == CURLE_OPERATION_TIMEDOUT) return DeadlineExceeded(what);
    if (result == CURLE_URL_MALFORMAT || result == CURLE_UNSUPPORTED_PROTOCOL) {
      return InvalidArgument(what);
    }
    if (result == CURLE_TOO_MANY_REDIRECTS) return InvalidArgument(what);
    return Unavailable(what);
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
          source.status = PerObjectStatus(p.oid, *o.error);
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
          action.send_token = !options_.token.empty() && !has_authorization && !origin_.empty() &&
                              UrlOrigin(action.href) == origin_;
          source.action = std::move(action);
        }
        out.push_back(std::move(source));
      }
      return out;
    } else {
      std::string message;
      if (Result<LfsErrorBody> eb = ParseLfsErrorBody(reply.body); eb.ok()) {
        message = FirstLineOf(eb->message);
      }
      if (message.empty()) message = FirstLineOf(reply.body.substr(0, kMaxErrorBody));
      std::string what =
          "HTTP " + std::to_string(reply.code) + (message.empty() ? std::string() : ": " + message);
      if (reply.code == 401 || reply.code == 403) {
        return PermissionDenied("LFS upstream " + where + " refused access (" + what + ")" +
                                (options_.token.empty()
                                     ? "; the repository may need a token (token_file)"
                                     : "; check the upstream's token"));
      }
      if (reply.code == 404) {
        return NotFound("LFS upstream " + where + " has no such repository (" + what + ")");
      }
      if (reply.code == 429 || reply.code == 503) {
        last = reply.code == 429
                   ? ResourceExhausted("LFS upstream " + where + " is rate limiting (" + what + ")")
                   : Unavailable("LFS upstream " + where + " is unavailable (" + what + ")");
        std::optional<std::chrono::seconds> after = ParseRetryAfter(reply.retry_after, clock.Now());
        if (after.has_value()) {
          wait = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::min(*after, options_.max_retry_after));
        } else {
          wait = backoff_.Delay(backoff_retry++);
        }
      } else if (reply.code >= 500) {
        last = Unavailable("LFS upstream " + where + " failed (" + what + ")");
        wait = backoff_.Delay(backoff_retry++);
      } else {
        return InvalidArgument("LFS upstream " + where + " refused the batch request (" + what +
                               ")");
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
