#include "daemon/admin_auth.h"

#include "common/admin_token.h"
#include "common/api_json.h"
#include "daemon/admin_api.h"

namespace mirrord {

std::optional<HttpResponse> AdminAuthFailure(const HttpRequest& req, std::string_view admin_token) {
  auto auth = req.find(http::field::authorization);
  std::string_view token;
  if (auth != req.end() && ParseBearerToken(auth->value(), &token) && !admin_token.empty() &&
      SecretsEqual(token, admin_token)) {
    return std::nullopt;
  }
  HttpResponse res = AdminErrorResponse(req, PermissionDenied("a valid bearer token is required"));
  res.result(http::status::unauthorized);
  res.set(http::field::www_authenticate, "Bearer realm=\"mirrord\"");
  return res;
}

HttpResponse AdminErrorResponse(const HttpRequest& req, const Status& s) {
  return MakeResponse(req, HttpStatusFor(s.code()), ErrorJson(s), "application/json");
}

HttpResponse AdminMethodNotAllowed(const HttpRequest& req, std::string_view allow) {
  HttpResponse res = AdminErrorResponse(req, InvalidArgument("use " + std::string(allow)));
  res.result(http::status::method_not_allowed);
  res.set(http::field::allow, allow);
  return res;
}

}  // namespace mirrord
