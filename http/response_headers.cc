#include "http/response_headers.h"

#include <strings.h>

#include <algorithm>
#include <cctype>

namespace mirrord {
std::string_view TrimHeaderValue(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::pair<std::string_view, std::string_view>> SplitHeaderLine(
    std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || line.starts_with("HTTP/")) return std::nullopt;
  std::string_view name = TrimHeaderValue(line.substr(0, colon));
  if (name.empty()) return std::nullopt;
  return std::make_pair(name, TrimHeaderValue(line.substr(colon + 1)));
}

std::string FirstLineOf(std::string_view body) {
  size_t end = body.find_first_of("\r\n");
  std::string line(body.substr(0, end));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) c = ' ';
  }
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  if (line.find('<') != std::string::npos) return "";  // an HTML page says nothing in a line
  return line;
}

void ResponseHeaders::Clear() {
  headers_.clear();
  bytes_ = 0;
  reason_.clear();
}

void ResponseHeaders::OnLine(std::string_view line) {
  if (line.starts_with("HTTP/")) {
    // "HTTP/1.1 404 Not Found": a new response.
    Clear();
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 != std::string_view::npos) reason_ = FirstLineOf(TrimHeaderValue(line.substr(sp2 + 1)));
    return;
  }
  auto kv = SplitHeaderLine(line);
  if (!kv) return;
  size_t cost = kv->first.size() + kv->second.size();
  if (bytes_ + cost > kMaxHeaderBytes) return;
  bytes_ += cost;
  std::string name(kv->first);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  headers_.emplace_back(std::move(name), std::string(kv->second));
}

std::optional<std::string_view> ResponseHeaders::Get(std::string_view name) const {
  for (auto it = headers_.rbegin(); it != headers_.rend(); ++it) {
    if (it->first.size() == name.size() &&
        strncasecmp(it->first.data(), name.data(), name.size()) == 0) {
      return std::string_view(it->second);
    }
  }
  return std::nullopt;
}

size_t ResponseHeaders::CurlCallback(char* data, size_t size, size_t nmemb, void* self) {
  static_cast<ResponseHeaders*>(self)->OnLine(std::string_view(data, size * nmemb));
  return size * nmemb;
}

}  // namespace mirrord
