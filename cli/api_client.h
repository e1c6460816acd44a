// ApiClient: mirrorctl's side of mirrord's admin API (/api/v1/...), over libcurl.
//
// A call's Result fails only when mirrord could not be asked: it is unreachable ("cannot
// reach mirrord at URL: <curl error>", coded by http/curl_status.h: kUnavailable, or
// kDeadlineExceeded for a timeout) or refused the token
// (kPermissionDenied, "mirrord at URL refused the admin token from <source>"). Any other
// answer, including 4xx/5xx, is an ApiReply for the caller to judge. The token never
// appears in messages.
// Thread-safety: one ApiClient per thread; each call uses its own CURL handle.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

struct ApiReply {
  long http_status = 0;
  std::string body;  // for a streamed 2xx reply: empty (lines went to the callback)
  // The answer's header fields, names in lower case (the last of a repeated one).
  std::map<std::string, std::string> headers = {};

  bool ok() const { return http_status >= 200 && http_status < 300; }
  // The error the body describes ({"error": {"code", "message"}}), or, for a body that is
  // not one, kInternal "mirrord answered HTTP <status>: <start of body>". OK when ok().
  Status ErrorStatus() const;
};

class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:8080", "https://mirror.lab" or "unix:/run/mirrord/admin.sock"
  // (the admin API's Unix socket); `token_source` (CliContext::token_source) is
  // only named in 401 messages.
  ApiClient(std::string base_url, std::string token, std::string token_source);

  // `path` starts with '/', e.g. "/api/v1/repos". Bodies are JSON.
  Result<ApiReply> Get(std::string_view path);
  Result<ApiReply> Post(std::string_view path, std::string_view json_body);
  Result<ApiReply> Delete(std::string_view path);

  // Called with each line of an NDJSON stream (without its '\n'); return false to stop
  // reading (the call then succeeds with what was read).
  using LineCallback = std::function<bool(std::string_view line)>;

  // POST whose 2xx answer is an NDJSON stream, delivered line by line as it arrives. A
  // connection that stays silent for 30 s is treated as lost (mirrord sends a line at
  // least every 5 s). A non-2xx answer is returned whole in ApiReply::body.
  Result<ApiReply> PostStream(std::string_view path, std::string_view json_body,
                              const LineCallback& on_line);

  // Called with each piece of a 2xx body as it arrives and the body's announced length
  // (Content-Length; -1 when unknown); return false to stop reading (the call then succeeds
  // with what was read).
  using DataCallback = std::function<bool(std::string_view data, int64_t content_length)>;

  // GET whose 2xx answer (a download of any size) goes to `on_data` piece by piece, so
  // memory stays bounded. A connection that stays silent for 30 s is treated as lost; a body
  // shorter than its Content-Length fails the call (kUnavailable). A non-2xx answer is
  // returned whole in ApiReply::body.
  Result<ApiReply> GetStream(std::string_view path, const DataCallback& on_data);

  const std::string& base_url() const { return base_url_; }
  // A CA certificate (PEM) trusted beside the system store (/etc/ssl/certs) for https://.
  void set_ca_file(std::filesystem::path ca_file) { ca_file_ = std::move(ca_file); }

 private:
  Result<ApiReply> Perform(std::string_view method, std::string_view path, std::string_view body,
                           const LineCallback* on_line, const DataCallback* on_data = nullptr);

  std::string base_url_;
  std::string token_;
  std::string token_source_;
  std::filesystem::path ca_file_;
};

}  // namespace mirrord
