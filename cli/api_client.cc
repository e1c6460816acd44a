#include "cli/api_client.h"

#include <curl/curl.h>

#include <cctype>
#include <map>
#include <memory>
#include <vector>

#include "common/api_json.h"
#include "http/curl_handles.h"
#include "http/curl_status.h"

namespace mirrord {
namespace {

// Receives the answer: whole for plain calls and non-2xx answers, line by line for a 2xx
// stream.
struct Sink {
  CURL* curl = nullptr;
  const ApiClient::LineCallback* on_line = nullptr;
  const ApiClient::DataCallback* on_data = nullptr;
  std::map<std::string, std::string> headers;
  std::string body;      // non-streamed bytes
  std::string partial;   // streamed bytes after the last '\n'
  bool stopped = false;  // the callback asked to stop

  bool Streaming() const {
    if (on_line == nullptr && on_data == nullptr) return false;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
  }

  bool Deliver(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return true;
    if (!(*on_line)(line)) {
      stopped = true;
      return false;
    }
    return true;
  }

  size_t Take(const char* data, size_t n) {
    if (!Streaming()) {
      body.append(data, n);
      return n;
    }
    if (on_data != nullptr) {
      curl_off_t length = -1;
      curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      if (!(*on_data)(std::string_view(data, n), static_cast<int64_t>(length))) {
        stopped = true;
        return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
      }
      return n;
    }
    partial.append(data, n);
    size_t start = 0;
    for (size_t nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      bool go_on = Deliver(std::string_view(partial).substr(start, nl - start));
      start = nl + 1;
      if (!go_on) return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
    partial.erase(0, start);
    return n;
  }

  static size_t Write(char* data, size_t size, size_t nmemb, void* self) {
    return static_cast<Sink*>(self)->Take(data, size * nmemb);
  }

  // One header line; a status line (a redirect's, a 100 Continue's) starts the set afresh.
  static size_t Header(char* data, size_t size, size_t nmemb, void* self) {
    auto* sink = static_cast<Sink*>(self);
    std::string_view line(data, size * nmemb);
    if (line.starts_with("HTTP/")) {
      sink->headers.clear();
      return line.size();
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return line.size();
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    sink->headers[name] = std::string(value);
    return line.size();
  }
};

}  // namespace

Status ApiReply::ErrorStatus() const {
  if (ok()) return Status::Ok();
  Result<boost::json::value> json = ParseJson(body);
  if (json.ok()) {
    if (std::optional<Status> s = StatusFromErrorJson(*json)) return *s;
  }
  std::string start = body.substr(0, body.find('\n')).substr(0, 200);
  std::string m = "mirrord answered HTTP " + std::to_string(http_status);
  if (!start.empty()) m += ": " + start;
  return Internal(std::move(m));
}

ApiClient::ApiClient(std::string base_url, std::string token, std::string token_source)
    : base_url_(std::move(base_url)),
      token_(std::move(token)),
      token_source_(std::move(token_source)) {}

Result<ApiReply> ApiClient::Get(std::string_view path) { return Perform("GET", path, "", nullptr); }

Result<ApiReply> ApiClient::Post(std::string_view path, std::string_view json_body) {
  return Perform("POST", path, json_body, nullptr);
}

Result<ApiReply> ApiClient::Delete(std::string_view path) {
  return Perform("DELETE", path, "", nullptr);
}

Result<ApiReply> ApiClient::PostStream(std::string_view path, std::string_view json_body,
                                       const LineCallback& on_line) {
  return Perform("POST", path, json_body, &on_line);
}

Result<ApiReply> ApiClient::GetStream(std::string_view path, const DataCallback& on_data) {
  return Perform("GET", path, "", nullptr, &on_data);
}

Result<ApiReply> ApiClient::Perform(std::string_view method, std::string_view path,
                                    std::string_view body, const LineCallback* on_line,
                                    const DataCallback* on_data) {
  RETURN_IF_ERROR(EnsureCurlInitialized());
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  CURL* h = curl.get();
  // "unix:/PATH": HTTP over the Unix socket at PATH (the host name is then only a label).
  const bool unix_socket = base_url_.starts_with("unix:");
  const std::string socket_path = unix_socket ? base_url_.substr(5) : std::string();
  const std::string url =
      (unix_socket ? std::string("http://localhost") : base_url_) + std::string(path);
  const std::string method_text(method);

  std::vector<std::string> lines = {
      "Authorization: Bearer " + token_,
      on_line ? "Accept: application/x-ndjson" : "Accept: application/json"};
  if (method == "POST") lines.push_back("Content-Type: application/json");
  ASSIGN_OR_RETURN(CurlSlistPtr headers, MakeHeaderList(lines));

  Sink sink;
  sink.curl = h;
  sink.on_line = on_line;
  sink.on_data = on_data;
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Sink::Write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Sink::Header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "mirrorctl");
  if (unix_socket) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  const std::string ca_file = ca_file_.string();
  if (!ca_file.empty()) {
    // CAINFO alone would replace the system bundle: the system's hashed directory stays.
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (on_line != nullptr || on_data != nullptr) {
    // No overall limit for a followed sync or a download; a stalled connection is caught
    // instead.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
  } else {
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
  }
  if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink.stopped)) {
    return CurlStatus(rc, "cannot reach mirrord at " + base_url_, error_buffer);
  }
  if (status == 401) {
    return PermissionDenied("mirrord at " + base_url_ + " refused the admin token from " +
                            token_source_);
  }
  // A stream's last line need not end in '\n'.
  if (rc == CURLE_OK && !sink.partial.empty() && sink.on_line != nullptr) {
    (void)sink.Deliver(sink.partial);
  }
  return ApiReply{status, std::move(sink.body), std::move(sink.headers)};
}

}  // namespace mirrord
