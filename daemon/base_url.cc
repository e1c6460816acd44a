#include "daemon/base_url.h"

#include <boost/beast/core/string.hpp>
#include <charconv>

namespace mirrord {
namespace {

// "host" and "port" of a Host header value ("[::1]:8080", "mirror.lab", "10.0.0.5:80").
// False when it is not host[:port] made of plain host characters.
bool SplitHost(std::string_view value, std::string_view* host, std::string_view* port) {
  if (value.empty()) return false;
  if (value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) return false;
    *host = value.substr(1, close - 1);
    std::string_view rest = value.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    *port = rest.empty() ? std::string_view() : rest.substr(1);
  } else {
    size_t colon = value.rfind(':');
    *host = value.substr(0, colon);
    *port = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
  }
  if (host->empty()) return false;
  for (char c : *host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == ':' || c == '_';
    if (!ok) return false;
  }
  for (char c : *port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string Authority(const boost::asio::ip::address& address, uint16_t port,
                      unsigned default_port) {
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return port == default_port ? host : host + ":" + std::to_string(port);
}

}  // namespace

BaseUrl::BaseUrl(BaseUrlOptions options) : options_(std::move(options)) {}

std::string BaseUrl::For(const HttpExchange& exchange) const {
  return For(exchange.request(), exchange.local_endpoint(), exchange.secure());
}

std::string BaseUrl::For(const HttpRequest& request, const boost::asio::ip::tcp::endpoint& local,
                         bool secure) const {
  if (!options_.public_url.empty()) return options_.public_url;
  const std::string scheme = secure ? "https://" : "http://";
  const unsigned default_port = secure ? 443 : 80;
  std::string_view host, port;
  const std::string_view value = request[http::field::host];
  if (SplitHost(value, &host, &port)) {
    unsigned port_number = default_port;
    bool port_ok = true;
    if (!port.empty()) {
      auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
      port_ok = ec == std::errc() && p == port.data() + port.size();
    }
    bool known = boost::beast::iequals(host, local.address().to_string()) ||
                 (local.address().is_loopback() && boost::beast::iequals(host, "localhost"));
    for (const std::string& name : options_.listen_names) {
      if (boost::beast::iequals(host, name)) known = true;
    }
    if (known && port_ok && port_number == local.port()) return scheme + std::string(value);
  }
  return scheme + Authority(local.address(), local.port(), default_port);
}

}  // namespace mirrord
