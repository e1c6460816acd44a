// The header lines of an HTTP response as curl hands them over (CURLOPT_HEADERFUNCTION),
// kept bounded: every upstream is hostile, so at most kMaxHeaderBytes of names and values
// are kept (further lines are counted as seen and dropped). A status line starts a new
// response (each redirect hop, a 100 Continue) and forgets the previous one's headers.
// Thread-safety: one transfer (one thread) at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mirrord {

class ResponseHeaders {
 public:
  static constexpr size_t kMaxHeaderBytes = 64 * 1024;

  // Feeds one line ("HTTP/1.1 404 Not Found\r\n", "Name: value\r\n" or the blank line).
  void OnLine(std::string_view line);
  // Forgets everything (a new request on the same object).
  void Clear();

  // The value of the last `name` header (case-insensitive; trimmed); nullopt when absent.
  std::optional<std::string_view> Get(std::string_view name) const;
  // The last status line's reason phrase ("Not Found"; made safe for a one-line message).
  const std::string& reason() const { return reason_; }

  // A CURLOPT_HEADERFUNCTION for CURLOPT_HEADERDATA = a ResponseHeaders*.
  static size_t CurlCallback(char* data, size_t size, size_t nmemb, void* self);

 private:
  std::vector<std::pair<std::string, std::string>> headers_;  // lower-case names
  size_t bytes_ = 0;
  std::string reason_;
};

// `s` without leading and trailing blanks (spaces, tabs, CR, LF).
std::string_view TrimHeaderValue(std::string_view s);

// Splits a header line "Name: value\r\n" into (name, trimmed value); nullopt for a status
// line, a blank line or a line without a name.
std::optional<std::pair<std::string_view, std::string_view>> SplitHeaderLine(std::string_view line);

// The first line of an error body, made safe for a one-line message (control characters
// replaced, cut at 200 characters, empty for an HTML page).
std::string FirstLineOf(std::string_view body);

}  // namespace mirrord
