#include "daemon/admin_auth.h"

#include "common/admin_token.h"
#include "common/api_json.h"

namespace mirrord {

std::optional<HttpResponse> AdminAuthFailure(const HttpRequest& req,
                                             std::string_view admin_token) {
  auto auth = req.find(http::field::authorization);
  std::string_view token;
  if (auth != req.end() && ParseBearerToken(auth->value(), &token) && !admin_token.empty() &&
      SecretsEqual(token, admin_token)) {
    return std::nullopt;
  }
  HttpResponse res =
      MakeResponse(req, http::status::unauthorized,
                   ErrorJson(PermissionDenied("a valid bearer token is required")),
                   "application/json");
  res.set(http::field::www_authenticate, "Bearer realm=\"mirrord\"");
  return res;
}

}  // namespace mirrord
