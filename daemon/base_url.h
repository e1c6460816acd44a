// BaseUrl: the scheme://authority[/path] that URLs mirrord hands to clients start with (LFS
// object hrefs now; registry and Hugging Face redirects too): every generated URL is
// BaseUrl::For(exchange) + "/...". One rule, so that no handler builds URLs from what a
// client claims:
//  - [server] public_url, when set, is used for every request, whatever Host or
//    X-Forwarded-Proto say (a proxy in front terminating TLS is described by public_url
//    "https://...", never by a header the client could send itself).
//  - Otherwise the request's Host, but only when it names this server: one of the listen
//    names (the [server] listen host, the machine's host name, "localhost" on a loopback
//    connection, or the address the client connected to) with the port the client
//    connected to (or no port when that is the scheme's default). The scheme is https for a
//    request that came over TLS ([server] tls_cert), else http.
//  - Otherwise the address and port the client connected to ("http://10.0.0.5:8080"),
//    which reached this server and cannot be spoofed.
// Thread-safety: immutable after construction; For() may be called from any thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/http_exchange.h"

namespace mirrord {

struct BaseUrlOptions {
  // "" or an absolute http(s) URL without trailing slash (common/config.h NormalizePublicUrl).
  std::string public_url;
  // Host names (or IP literals) a Host header may name, compared case-insensitively.
  std::vector<std::string> listen_names;
};

class BaseUrl {
 public:
  explicit BaseUrl(BaseUrlOptions options);

  // No trailing slash.
  std::string For(const HttpExchange& exchange) const;
  std::string For(const HttpRequest& request, const boost::asio::ip::tcp::endpoint& local_endpoint,
                  bool secure = false) const;

 private:
  BaseUrlOptions options_;
};

}  // namespace mirrord
