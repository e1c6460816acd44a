#include "cli/cli_context.h"

#include <cstdlib>
#include <system_error>

#include "common/admin_token.h"

namespace mirrord {
namespace {

std::optional<std::string> NonEmpty(const CliEnvironment& env, std::string_view name) {
  if (!env.getenv) return std::nullopt;
  std::optional<std::string> v = env.getenv(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

Result<Config> LoadNamed(const std::filesystem::path& file, std::string_view source) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return NotFound("config file " + file.string() + " (from " + std::string(source) +
                    ") does not exist");
  }
  return LoadConfigFile(file);
}

}  // namespace

CliEnvironment SystemEnvironment() {
  CliEnvironment env;
  env.getenv = [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  return env;
}

std::string ServerUrlFromListen(std::string_view host, uint16_t port) {
  std::string h(host);
  if (h.empty() || h == "0.0.0.0") {
    h = "127.0.0.1";
  } else if (h == "::" || h == "[::]") {
    h = "[::1]";
  } else if (h.find(':') != std::string::npos && h.front() != '[') {
    h = "[" + h + "]";
  }
  return "http://" + h + ":" + std::to_string(port);
}

Result<std::string> NormalizeServerUrl(std::string_view url) {
  if (url.starts_with("unix:")) {
    Result<ListenAddress> address = ParseListenAddress(url);
    if (!address.ok()) return InvalidArgument("server URL " + address.error().message());
    return std::string(url);
  }
  std::string u(url);
  size_t scheme_end = u.find("://");
  if (scheme_end == std::string::npos) {
    u = "http://" + u;
  } else {
    std::string scheme = u.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https") {
      return InvalidArgument("server URL " + std::string(url) + ": expected http:// or https://");
    }
  }
  const size_t host_start = u.find("://") + 3;
  if (host_start >= u.size() || u[host_start] == '/') {
    return InvalidArgument("server URL " + std::string(url) + " has no host");
  }
  while (u.back() == '/') u.pop_back();
  return u;
}

Result<CliContext> ResolveCliContext(const CliFlags& flags, const CliEnvironment& env) {
  CliContext c;
  std::optional<std::string> env_config = NonEmpty(env, "MIRRORD_CONFIG");
  std::optional<std::string> env_url = NonEmpty(env, "MIRRORD_URL");
  std::optional<std::string> env_token = NonEmpty(env, "MIRRORD_TOKEN");
  if (!flags.token.empty()) {
    c.token = flags.token;
    c.token_source = "--token";
  } else if (env_token) {
    c.token = *env_token;
    c.token_source = "$MIRRORD_TOKEN";
  }
  while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r' ||
                              c.token.back() == ' ' || c.token.back() == '\t')) {
    c.token.pop_back();
  }
  // It goes into a header line: a line break would smuggle in another header.
  if (!c.token_source.empty() &&
      (c.token.empty() || c.token.find_first_of("\r\n") != std::string::npos)) {
    return InvalidArgument("the admin token from " + c.token_source +
                           " is empty or has a line break in it");
  }
  const bool remote = !c.token.empty() && (!flags.server_url.empty() || env_url);
  if (!flags.config_file.empty()) {
    c.config_file = flags.config_file;
    ASSIGN_OR_RETURN(c.config, LoadNamed(c.config_file, "--config"));
  } else if (env_config) {
    c.config_file = *env_config;
    ASSIGN_OR_RETURN(c.config, LoadNamed(c.config_file, "$MIRRORD_CONFIG"));
  } else {
    std::error_code ec;
    if (!remote && !env.default_config.empty() && std::filesystem::exists(env.default_config, ec)) {
      c.config_file = env.default_config;
      ASSIGN_OR_RETURN(c.config, LoadConfigFile(c.config_file));
    } else {
      c.config = DefaultConfig();
    }
  }

  if (!flags.server_url.empty()) {
    ASSIGN_OR_RETURN(c.server_url, NormalizeServerUrl(flags.server_url));
  } else if (env_url) {
    Result<std::string> u = NormalizeServerUrl(*env_url);
    if (!u.ok()) return u.error().WithContext("$MIRRORD_URL");
    c.server_url = std::move(*u);
  } else if (c.config.admin_listen) {
    // The admin API lives only there ([admin] listen).
    const ListenAddress& admin = *c.config.admin_listen;
    c.server_url = admin.is_unix() ? admin.ToString() : ServerUrlFromListen(admin.host, admin.port);
  } else {
    c.server_url = ServerUrlFromListen(c.config.listen_host, c.config.listen_port);
    if (!c.config.tls_cert.empty()) c.server_url.replace(0, 4, "https");
  }
  if (!flags.ca_file.empty()) {
    c.ca_file = flags.ca_file;
  } else if (std::optional<std::string> env_ca = NonEmpty(env, "MIRRORD_CA_FILE")) {
    c.ca_file = *env_ca;
  }

  c.token_file = c.config.admin_token_file.empty() ? c.config.storage_root / "admin.token"
                                                   : c.config.admin_token_file;
  if (c.token.empty()) c.token_source = "the admin token file " + c.token_file.string();
  return c;
}

Result<std::string> LoadAdminToken(const CliContext& context) {
  if (!context.token.empty()) return context.token;
  Result<std::string> token = ReadTokenFile(context.token_file);
  if (token.ok()) return token;
  // The underlying message already names the file ("open /path: Permission denied").
  std::string m = "cannot read the admin token: " + token.error().message();
  if (token.error().code() == StatusCode::kPermissionDenied) {
    m += " (run mirrorctl as mirrord's user, or with sudo, or give --token or $MIRRORD_TOKEN)";
  } else if (token.error().code() == StatusCode::kNotFound) {
    m += " (mirrord creates it on first start; is [admin] token_file or --config right? "
         "From another machine, give --token or $MIRRORD_TOKEN)";
  }
  return Status(token.error().code(), std::move(m));
}

}  // namespace mirrord
