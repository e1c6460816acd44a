#include "deploy/registry_session.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstring>

#include "common/base64.h"
#include "http/curl_handles.h"
#include "http/retry_wait.h"
#include "http/url.h"
#include "http/www_authenticate.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr size_t kMaxTokenBytes = 16 * 1024;

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string ScopeKey(std::vector<std::string> scopes) {
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  std::string key;
  for (const std::string& s : scopes) key += s + " ";
  return key;
}

// The request body handed to curl from RequestBody windows; seekable to any offset (curl
// rewinds when it re-sends on a fresh connection).
struct BodyReader {
  const RequestBody* body = nullptr;
  uint64_t pos = 0;  // body offset of the window's end
  std::string window;
  size_t window_pos = 0;
  uint64_t handed = 0;
  Status error;

  static size_t Read(char* buf, size_t size, size_t n, void* self) {
    auto* r = static_cast<BodyReader*>(self);
    if (r->window_pos == r->window.size()) {
      if (r->pos >= r->body->size) return 0;
      uint64_t end = std::min(r->body->size, r->pos + RequestBody::kBodyWindowBytes);
      r->window.clear();
      r->window_pos = 0;
      r->error = r->body->read(r->pos, end, &r->window);
      if (r->error.ok() && r->window.size() != end - r->pos) {
        r->error = DataLoss("the body source gave " + std::to_string(r->window.size()) +
                            " bytes for a window of " + std::to_string(end - r->pos));
      }
      if (!r->error.ok()) return CURL_READFUNC_ABORT;
      r->pos = end;
    }
    size_t len = std::min(size * n, r->window.size() - r->window_pos);
    std::memcpy(buf, r->window.data() + r->window_pos, len);
    r->window_pos += len;
    r->handed += len;
    return len;
  }

  static int Seek(void* self, curl_off_t offset, int origin) {
    auto* r = static_cast<BodyReader*>(self);
    if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > r->body->size) {
      return CURL_SEEKFUNC_CANTSEEK;
    }
    r->pos = static_cast<uint64_t>(offset);
    r->window.clear();
    r->window_pos = 0;
    return CURL_SEEKFUNC_OK;
  }
};

struct AnswerSink {
  std::string* body;
  bool too_large = false;

  static size_t Write(char* data, size_t size, size_t n, void* self) {
    auto* s = static_cast<AnswerSink*>(self);
    size_t len = size * n;
    if (s->body->size() + len > kMaxRegistryAnswerBytes) {
      s->too_large = true;
      return 0;
    }
    s->body->append(data, len);
    return len;
  }
};

}  // namespace

RegistrySession::RegistrySession(const RegistryTarget& target, RegistrySessionOptions options,
                                 const std::atomic<bool>* cancelled)
    : target_(target), options_(options), cancelled_(cancelled) {}

Result<std::unique_ptr<RegistrySession>> RegistrySession::Create(
    const RegistryTarget& target, RegistrySessionOptions options,
    const std::atomic<bool>* cancelled) {
  std::unique_ptr<RegistrySession> s(new RegistrySession(target, options, cancelled));
  s->base_ = target.url;
  while (s->base_.ends_with('/')) s->base_.pop_back();
  s->origin_ = UrlOrigin(s->base_);
  if (!IsHttpUrl(s->base_) || s->origin_.empty()) {
    return InvalidArgument("registry " + target.name + ": url " + target.url +
                           " is not an http(s) URL");
  }
  if (StartsWithNoCase(s->base_, "http://") && !target.insecure) {
    return InvalidArgument("registry " + target.name + ": plain http needs insecure = true");
  }
  ASSIGN_OR_RETURN(s->curl_, CurlSession::Create());
  s->http_.connect_timeout = options.connect_timeout;
  s->http_.ca_file = target.ca_file;  // added to the system's trust below
  return s;
}

std::string RegistrySession::Resolve(const std::string& location) const {
  if (IsHttpUrl(location)) return location;
  if (location.starts_with('/')) return origin_ + location;
  return base_ + "/" + location;
}

std::string RegistrySession::AuthorizationFor(const std::vector<std::string>& scopes) {
  if (!target_.token.empty()) return "Authorization: Bearer " + target_.token;
  if (scheme_ == "basic" && !target_.username.empty()) {
    return "Authorization: Basic " + Base64(target_.username + ":" + target_.password);
  }
  if (scheme_ == "bearer") {
    auto it = tokens_.find(ScopeKey(scopes));
    if (it != tokens_.end() && std::chrono::steady_clock::now() < it->second.expires) {
      return it->second.header;
    }
  }
  return "";
}

Status RegistrySession::Answer(std::string_view challenge_value,
                               const std::vector<std::string>& scopes) {
  const std::string who = "registry " + target_.name + " (" + origin_ + ")";
  if (!target_.token.empty()) return PermissionDenied(who + " refused the configured token");
  Result<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate(challenge_value);
  if (!parsed.ok()) return PermissionDenied(who + ": " + parsed.status().message());
  const AuthChallenge* bearer = nullptr;
  const AuthChallenge* basic = nullptr;
  for (const AuthChallenge& c : *parsed) {
    if (c.scheme == "bearer" && bearer == nullptr && c.Param("realm")) bearer = &c;
    if (c.scheme == "basic" && basic == nullptr) basic = &c;
  }
  if (bearer != nullptr) {
    scheme_ = "bearer";
    realm_ = std::string(*bearer->Param("realm"));
    service_ = std::string(bearer->Param("service").value_or(""));
    std::vector<std::string> all = scopes;
    if (auto s = bearer->Param("scope")) {
      // Several scopes may be given space-separated.
      std::string_view rest = *s;
      while (!rest.empty()) {
        size_t sp = rest.find(' ');
        std::string one(rest.substr(0, sp));
        if (!one.empty() && std::find(all.begin(), all.end(), one) == all.end()) {
          all.push_back(one);
        }
        rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
      }
    }
    return FetchToken(realm_, service_, all, ScopeKey(scopes));
  }
  if (basic != nullptr) {
    if (target_.username.empty()) {
      return PermissionDenied(who +
                              " asks for basic credentials; none are configured "
                              "(username, password_file)");
    }
    if (scheme_ == "basic") return PermissionDenied(who + " refused the configured credentials");
    scheme_ = "basic";
    return Status::Ok();
  }
  return PermissionDenied(who + " answered 401 without a Basic or Bearer challenge");
}

Status RegistrySession::FetchToken(const std::string& realm, const std::string& service,
                                   const std::vector<std::string>& scopes, const std::string& key) {
  const std::string who = "token service " + UrlOrigin(realm);
  if (!IsHttpUrl(realm) || UrlOrigin(realm).empty()) {
    return PermissionDenied("registry " + target_.name + ": token realm is not an http(s) URL");
  }
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  url += "service=" + QueryEscape(service);
  for (const std::string& s : scopes) url += "&scope=" + QueryEscape(s);
  std::string auth;
  if (!target_.username.empty()) {
    // The realm is named by the registry; the credentials go over TLS unless the operator
    // allowed plain http for this target.
    if (StartsWithNoCase(realm, "http://") && !target_.insecure) {
      return PermissionDenied(who + ": will not send credentials over plain http");
    }
    auth = "Authorization: Basic " + Base64(target_.username + ":" + target_.password);
  }
  ++token_requests_;
  ASSIGN_OR_RETURN(RegistryResponse r, Perform("GET", url, {}, nullptr, auth, nullptr));
  if (r.status != 200) {
    return PermissionDenied(who + " answered HTTP " + std::to_string(r.status) + " for " + key);
  }
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* token = nullptr;
  if (o != nullptr) {
    token = o->if_contains("token");
    if (token == nullptr || !token->is_string() || token->as_string().empty()) {
      token = o->if_contains("access_token");
    }
  }
  if (token == nullptr || !token->is_string() || token->as_string().empty() ||
      token->as_string().size() > kMaxTokenBytes) {
    return PermissionDenied(who + " sent no usable token");
  }
  for (char c : token->as_string()) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      return PermissionDenied(who + " sent a token with control characters");
    }
  }
  int64_t expires_in = 60;
  if (const json::value* e = o->if_contains("expires_in")) {
    if (e->is_int64() && e->as_int64() > 0) expires_in = e->as_int64();
    if (e->is_uint64())
      expires_in = static_cast<int64_t>(std::min<uint64_t>(e->as_uint64(), 86400));
    if (e->is_double() && e->as_double() > 0 && e->as_double() < 86400) {
      expires_in = static_cast<int64_t>(e->as_double());
    }
  }
  expires_in = std::clamp<int64_t>(expires_in, 1, 86400);
  // Renewed a little before the end, so that a token does not lapse mid-request.
  auto lifetime = std::chrono::milliseconds(expires_in * 900);
  tokens_[key] = Token{"Authorization: Bearer " + std::string(token->as_string()),
                       std::chrono::steady_clock::now() + lifetime};
  return Status::Ok();
}

Result<RegistryResponse> RegistrySession::Send(const RegistryRequest& request, uint64_t* sent) {
  if (sent != nullptr) *sent = 0;
  std::string url = Resolve(request.url);
  bool answered = false;
  for (int hop = 0;; ++hop) {
    const bool ours = SameOrigin(url, base_);
    std::string auth = ours ? AuthorizationFor(request.scopes) : "";
    if (ours && auth.empty() && scheme_ == "bearer" && !answered) {
      // The realm is known: get the token before sending a body that a 401 would waste.
      RETURN_IF_ERROR(FetchToken(realm_, service_, request.scopes, ScopeKey(request.scopes)));
      auth = AuthorizationFor(request.scopes);
    }
    uint64_t handed = 0;
    Result<RegistryResponse> r =
        Perform(request.method, url, request.headers, request.body, auth, &handed);
    if (sent != nullptr) *sent += handed;
    if (!r.ok()) return r.status();
    if (r->status == 401 && ours && !answered) {
      answered = true;
      RETURN_IF_ERROR(Answer(r->headers.Get("WWW-Authenticate").value_or(""), request.scopes));
      --hop;
      continue;
    }
    const bool redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                          r->status == 307 || r->status == 308;
    if (redirect && (request.method == "GET" || request.method == "HEAD") &&
        r->headers.Get("Location") && hop < kMaxRedirects) {
      std::string next(*r->headers.Get("Location"));
      if (!IsHttpUrl(next)) next = UrlOrigin(url) + (next.starts_with('/') ? "" : "/") + next;
      // Never from https down to http.
      if (StartsWithNoCase(url, "https://") && !StartsWithNoCase(next, "https://")) return r;
      url = next;
      continue;
    }
    return r;
  }
}

Result<RegistryResponse> RegistrySession::Perform(const std::string& method, const std::string& url,
                                                  const std::vector<std::string>& headers,
                                                  const RequestBody* body, const std::string& auth,
                                                  uint64_t* sent) {
  if (cancelled_ != nullptr && cancelled_->load()) return Cancelled("push cancelled");
  RegistryResponse out;
  out.url = url;
  CURL* h = curl_->Prepare(url, http_);
  if (!target_.ca_file.empty()) {
    // ca_file adds to the system's trust rather than replacing it.
    curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  BodyReader reader;
  reader.body = body;
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body != nullptr ? body->size : 0));
    if (body == nullptr) curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  } else if (method == "PUT" || method == "PATCH") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(body != nullptr ? body->size : 0));
    if (method == "PATCH") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
  } else if (method != "GET") {
    return InvalidArgument("unsupported method " + method);
  }
  if (body != nullptr) {
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &BodyReader::Read);
    curl_easy_setopt(h, CURLOPT_READDATA, &reader);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &BodyReader::Seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &reader);
  } else if (method == "PUT" || method == "PATCH") {
    static const RequestBody kEmpty{0, nullptr};
    reader.body = &kEmpty;
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &BodyReader::Read);
    curl_easy_setopt(h, CURLOPT_READDATA, &reader);
  }
  std::vector<std::string> lines = headers;
  if (!auth.empty()) lines.push_back(auth);
  ASSIGN_OR_RETURN(CurlSlistPtr list, MakeHeaderList(lines));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  AnswerSink sink{&out.body};
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &ResponseHeaders::CurlCallback);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &out.headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AnswerSink::Write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  CURLcode code = CURLE_OK;
  Status performed = curl_->Perform(CancelFlag(cancelled_), options_.stall_timeout, &code);
  if (sent != nullptr) *sent = reader.handed;
  out.body_bytes_sent = reader.handed;
  if (!performed.ok()) {
    if (performed.code() == StatusCode::kCancelled) return Cancelled("push cancelled");
    return performed;
  }
  if (!reader.error.ok()) return reader.error;
  if (sink.too_large) {
    return ResourceExhausted(UrlOrigin(url) + " answered more than " +
                             std::to_string(kMaxRegistryAnswerBytes) + " bytes");
  }
  if (code != CURLE_OK) return curl_->TransferError(code, UrlOrigin(url));
  out.status = curl_->ResponseCode();
  return out;
}

}  // namespace mirrord
