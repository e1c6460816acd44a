#include "daemon/request_base_url.h"

#include <boost/beast/core/string.hpp>

namespace mirrord {

std::string RequestBaseUrl(const HttpRequest& request, std::string_view public_url) {
  if (!public_url.empty()) return std::string(public_url);
  std::string scheme = "http";
  auto proto = request.find("X-Forwarded-Proto");
  if (proto != request.end() && boost::beast::iequals(proto->value(), "https")) scheme = "https";
  std::string host(request[http::field::host]);
  if (host.empty()) host = "localhost";
  return scheme + "://" + host;
}

}  // namespace mirrord
