#include "common/listen_address.h"

#include <charconv>

namespace mirrord {

// sizeof(sockaddr_un::sun_path) - 1 on Linux.
constexpr size_t kMaxUnixPath = 107;

std::string ListenAddress::ToString() const {
  if (is_unix()) return "unix:" + unix_path.string();
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("expected HOST:PORT or unix:/PATH (" + std::string(why) + "), got \"" +
                           std::string(text.substr(0, 200)) + "\"");
  };
  ListenAddress out;
  if (text.starts_with("unix:")) {
    std::string_view path = text.substr(5);
    if (path.empty() || path.front() != '/') return bad("a Unix socket needs an absolute path");
    if (path.size() > kMaxUnixPath) return bad("Unix socket path too long");
    if (path.find('\0') != std::string_view::npos) return bad("NUL in path");
    out.unix_path = std::filesystem::path(std::string(path));
    return out;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return bad("no port");
  }
  std::string_view host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  }
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '[' || c == ']') return bad("bad host");
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535) {
    return bad("bad port");
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(port);
  return out;
}

}  // namespace mirrord
