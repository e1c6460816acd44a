// RequestBaseUrl: the scheme://host[:port] that absolute URLs handed to clients (Link
// headers, Location) start with.
//
// MINIMAL STAND-IN: the server-wide helper for `[server] public_url` is being added by the
// HTTP server work; when it lands, callers switch to it and this file goes. Until then:
// `public_url` when set, else the request's Host header (and X-Forwarded-Proto: https from a
// proxy in front), as LfsHttpHandler builds its hrefs.
// Thread-safety: a free function.
#pragma once

#include <string>
#include <string_view>

#include "daemon/http_exchange.h"

namespace mirrord {

std::string RequestBaseUrl(const HttpRequest& request, std::string_view public_url = "");

}  // namespace mirrord
