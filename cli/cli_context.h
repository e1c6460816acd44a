// CliContext: what every mirrorctl command needs to reach mirrord — the configuration it
// was resolved from, the daemon's base URL and the admin token (or the file holding it).
//
// Precedence (first wins):
//   config file:  --config FILE, $MIRRORD_CONFIG, /etc/mirrord/mirrord.toml if it exists,
//                 else the embedded defaults (DefaultConfig()).
//   server URL:   --server URL, $MIRRORD_URL, else http://HOST:PORT from [server] listen
//                 (a wildcard listen address becomes the loopback address).
//   admin token:  --token TOKEN, $MIRRORD_TOKEN, else the file [admin] token_file, default
//                 <storage root>/admin.token.
// An explicitly named config file (flag or environment) must exist and parse. When both
// the server and the token come from flags or the environment (remote use), the default
// config file is not read at all: a workstation's /etc/mirrord/mirrord.toml, or one it may
// not read, does not get in the way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

namespace mirrord {

inline constexpr char kDefaultConfigPath[] = "/etc/mirrord/mirrord.toml";

// The global command-line flags; empty means "not given".
struct CliFlags {
  std::string config_file;
  std::string server_url;
  std::string token;
  std::string ca_file;  // --cacert
};

// The process environment as a seam, so resolution can be tested without touching it.
struct CliEnvironment {
  // Returns the variable's value; nullopt when unset. An empty value counts as unset.
  std::function<std::optional<std::string>(std::string_view name)> getenv;
  // Read when it exists and neither --config nor $MIRRORD_CONFIG is given.
  std::filesystem::path default_config = kDefaultConfigPath;
};

// The real environment (::getenv) and the real default config path.
CliEnvironment SystemEnvironment();

struct CliContext {
  Config config;
  std::filesystem::path config_file;  // the file read; empty: the embedded defaults
  std::string server_url;             // e.g. "http://127.0.0.1:8080", no trailing '/'
  std::string token;                  // from --token or $MIRRORD_TOKEN; empty: read token_file
  // Where the token comes from, for messages: "--token", "$MIRRORD_TOKEN" or
  // "the admin token file PATH". Never the token itself.
  std::string token_source;
  std::filesystem::path token_file;
  // A CA certificate (PEM) trusted beside the system store for an https:// server:
  // --cacert, else $MIRRORD_CA_FILE; empty: the system store only.
  std::filesystem::path ca_file;
};

// Resolves the context; InvalidArgument or NotFound naming the file or flag on failure.
Result<CliContext> ResolveCliContext(const CliFlags& flags, const CliEnvironment& env);

// "http://HOST:PORT" for a listen address; "0.0.0.0" and "" become 127.0.0.1, "::" becomes
// [::1], and IPv6 literals get brackets.
std::string ServerUrlFromListen(std::string_view host, uint16_t port);

// Canonical base URL: "http://" is added when no scheme is given, trailing '/' removed;
// "unix:/PATH" (the admin API's Unix socket, [admin] listen) is kept as it is.
// InvalidArgument for schemes other than http and https, or an empty host.
Result<std::string> NormalizeServerUrl(std::string_view url);

// The admin token: context.token when set, else the token file's content. On failure the
// message names the file and says what to do.
Result<std::string> LoadAdminToken(const CliContext& context);

}  // namespace mirrord
