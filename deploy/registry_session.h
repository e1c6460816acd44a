// RegistrySession: one conversation with a destination registry (the OCI distribution API)
// over the project's HTTP client layer: requests with bounded answers, an upload body read
// from a source in bounded windows, and authentication from the registry's
// WWW-Authenticate challenge:
//  - Basic: the target's username + password;
//  - Bearer (Docker's token flow): GET realm?service=&scope=... (each scope the request
//    needs, plus the challenge's own), with the Basic credentials when configured; the
//    answer's `token` or `access_token` and `expires_in` (60 s when absent); tokens are
//    cached per scope set until shortly before they expire;
//  - a static token (token_file) sent as "Bearer <token>".
// Credentials only ever go to the registry's origin (scheme, host, port of target.url):
// an upload Location or a redirect that points elsewhere is sent without Authorization.
// Redirects are followed by hand (GET and HEAD only, at most kMaxRedirects hops). TLS is
// verified (ca_file adds trust); plain http only when the target is `insecure`.
// Thread-safety: one thread at a time (it owns a curl handle).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "deploy/image_pusher.h"
#include "http/curl_session.h"
#include "http/response_headers.h"

namespace mirrord {

inline constexpr uint64_t kMaxRegistryAnswerBytes = 64 * 1024;  // error bodies, token JSON
inline constexpr int kMaxRedirects = 5;

// The bytes of a request body, read in windows of at most kBodyWindowBytes.
struct RequestBody {
  static constexpr uint64_t kBodyWindowBytes = 4 << 20;
  uint64_t size = 0;
  // Appends the bytes [begin, end) of the body to *out.
  std::function<Status(uint64_t begin, uint64_t end, std::string* out)> read;
};

struct RegistryRequest {
  std::string method = "GET";        // GET, HEAD, POST, PUT, PATCH
  std::string url;                   // absolute, or a path ("/v2/...") on the registry
  std::vector<std::string> headers;  // extra "Name: value" lines
  // The token scopes the request needs ("repository:models/x:pull,push").
  std::vector<std::string> scopes;
  const RequestBody* body = nullptr;  // nullptr: no body
};

struct RegistryResponse {
  long status = 0;
  ResponseHeaders headers;
  std::string body;              // at most kMaxRegistryAnswerBytes
  std::string url;               // the URL that answered (after redirects)
  uint64_t body_bytes_sent = 0;  // request body bytes handed to the connection
};

struct RegistrySessionOptions {
  std::chrono::milliseconds stall_timeout{60'000};
  std::chrono::seconds connect_timeout{30};
};

class RegistrySession {
 public:
  // InvalidArgument for a target URL that is not http(s), or plain http without insecure.
  static Result<std::unique_ptr<RegistrySession>> Create(const RegistryTarget& target,
                                                         RegistrySessionOptions options,
                                                         const std::atomic<bool>* cancelled);

  // Sends `request` and returns whatever HTTP answer came (any status; the caller judges),
  // after answering at most one 401 challenge (the body is sent again from its start).
  // PermissionDenied when the challenge cannot be met (no credentials for it, the token
  // service refuses), Cancelled, DeadlineExceeded on a stall, Unavailable (or what
  // http/curl_status.h says) for a failed transfer; `*sent` (may be null) gets the body bytes
  // handed to the connection, also on failure.
  Result<RegistryResponse> Send(const RegistryRequest& request, uint64_t* sent = nullptr);

  // `location` (absolute, or relative to the registry) as an absolute URL.
  std::string Resolve(const std::string& location) const;
  const std::string& base() const { return base_; }

  // How many token requests were made (tests: tokens are cached).
  size_t token_requests() const { return token_requests_; }

 private:
  RegistrySession(const RegistryTarget& target, RegistrySessionOptions options,
                  const std::atomic<bool>* cancelled);
  Result<RegistryResponse> Perform(const std::string& method, const std::string& url,
                                   const std::vector<std::string>& headers, const RequestBody* body,
                                   const std::string& auth, uint64_t* sent);
  // The Authorization line for `scopes` when one is known ("" when none).
  std::string AuthorizationFor(const std::vector<std::string>& scopes);
  // Learns how to answer `challenges_value` for `scopes`.
  Status Answer(std::string_view challenge_value, const std::vector<std::string>& scopes);
  Status FetchToken(const std::string& realm, const std::string& service,
                    const std::vector<std::string>& scopes, const std::string& key);

  const RegistryTarget target_;
  const RegistrySessionOptions options_;
  const std::atomic<bool>* cancelled_;
  std::string base_;    // target.url without a trailing '/'
  std::string origin_;  // UrlOrigin(base_)
  std::unique_ptr<CurlSession> curl_;
  HttpRequestOptions http_;
  // What the registry asked for: "" (nothing yet), "basic", "bearer".
  std::string scheme_;
  std::string realm_, service_;
  struct Token {
    std::string header;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Token> tokens_;  // by sorted scope set
  size_t token_requests_ = 0;
};

}  // namespace mirrord
