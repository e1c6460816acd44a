// The bearer-token check of the admin endpoints that live beside AdminApi (builds, images).
// Thread-safety: a pure function.
#pragma once

#include <optional>
#include <string_view>

#include "daemon/http_exchange.h"

namespace mirrord {

// nullopt when `req` carries "Authorization: Bearer <admin_token>"; else the 401 answer
// ({"error":{"code","message"}}, WWW-Authenticate: Bearer realm="mirrord"). An empty
// `admin_token` refuses every request.
std::optional<HttpResponse> AdminAuthFailure(const HttpRequest& req, std::string_view admin_token);

}  // namespace mirrord
