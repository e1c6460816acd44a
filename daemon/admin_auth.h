// What the admin endpoints that live beside AdminApi (builds, images) share: the bearer-token
// check and the error answer. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "daemon/http_exchange.h"

namespace mirrord {

// nullopt when `req` carries "Authorization: Bearer <admin_token>"; else the 401 answer
// ({"error":{"code","message"}}, WWW-Authenticate: Bearer realm="mirrord"). An empty
// `admin_token` refuses every request.
std::optional<HttpResponse> AdminAuthFailure(const HttpRequest& req, std::string_view admin_token);

// {"error":{"code","message"}} with the admin API's HTTP status for `s` (HttpStatusFor).
HttpResponse AdminErrorResponse(const HttpRequest& req, const Status& s);

// 405 {"error":{"code","message"}} with `Allow: <allow>` (e.g. "POST").
HttpResponse AdminMethodNotAllowed(const HttpRequest& req, std::string_view allow);

}  // namespace mirrord
