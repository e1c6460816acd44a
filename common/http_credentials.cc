#include "common/http_credentials.h"

#include <boost/beast/core/string.hpp>

#include "common/base64.h"

namespace mirrord {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool HasControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::optional<HttpCredentials> ParseAuthorization(std::string_view header) {
  if (header.size() > kMaxAuthorizationLength) return std::nullopt;
  header = Trim(header);
  size_t blank = 0;
  while (blank < header.size() && !IsBlank(header[blank])) ++blank;
  std::string_view scheme = header.substr(0, blank);
  std::string_view rest = Trim(header.substr(blank));
  if (rest.empty() || HasControl(rest)) return std::nullopt;
  HttpCredentials out;
  if (boost::beast::iequals(scheme, "Bearer")) {
    if (rest.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    out.scheme = HttpCredentials::Scheme::kBearer;
    out.secret = std::string(rest);
    return out;
  }
  if (!boost::beast::iequals(scheme, "Basic")) return std::nullopt;
  std::optional<std::string> decoded = Base64Decode(rest);
  if (!decoded || HasControl(*decoded)) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  out.scheme = HttpCredentials::Scheme::kBasic;
  out.user = decoded->substr(0, colon);
  out.secret = decoded->substr(colon + 1);
  // "https://TOKEN@host/..." sends the token as the user name with an empty password.
  if (out.secret.empty()) out.secret = out.user;
  if (out.secret.empty()) return std::nullopt;
  return out;
}

}  // namespace mirrord
