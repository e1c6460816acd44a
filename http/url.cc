#include "http/url.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <optional>

namespace mirrord {
namespace {

struct HostPort {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; an IPv6 literal in brackets
  std::string port;    // always set
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<HostPort> Parse(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  HostPort out;
  out.scheme = Lower(u.scheme());
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  if (!u.has_authority()) return std::nullopt;
  out.host = Lower(u.encoded_host());
  if (out.host.empty()) return std::nullopt;
  if (u.has_port() && !u.port().empty()) {
    // port_number() wraps values over 65535; such a URL names no port at all.
    unsigned long value = 0;
    for (char c : u.port()) {
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) return std::nullopt;
    }
    out.port = std::to_string(value);
  } else {
    out.port = out.scheme == "https" ? "443" : "80";
  }
  return out;
}

}  // namespace

bool IsHttpUrl(std::string_view url) {
  auto starts = [&](std::string_view prefix) {
    return url.size() >= prefix.size() && Lower(url.substr(0, prefix.size())) == prefix;
  };
  return starts("http://") || starts("https://");
}

std::string UrlOrigin(std::string_view url) {
  std::optional<HostPort> p = Parse(url);
  if (!p) return "";
  return p->scheme + "://" + p->host + ":" + p->port;
}

bool SameOrigin(std::string_view a, std::string_view b) {
  std::string origin = UrlOrigin(a);
  return !origin.empty() && origin == UrlOrigin(b);
}

std::string UrlHostKey(std::string_view url) {
  std::optional<HostPort> p = Parse(url);
  if (!p) return std::string(url);
  return p->host + ":" + p->port;
}

std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace mirrord
