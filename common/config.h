// mirrord's configuration: one TOML file read by both mirrord and mirrorctl.
//
//   [server]   listen = "127.0.0.1:8080", read_timeout = "30s", log_level = "info",
//              public_url = "", max_connections = 1024, max_connections_per_client = 128,
//              request_timeout = "60s", min_transfer_rate = 1024, body_memory_budget = 268435456
//     public_url: base of every URL mirrord generates (LFS hrefs, redirects), e.g.
//       "https://mirror.lab" behind a TLS proxy; unset: the request's Host when it names
//       this server, else the address the client connected to (daemon/base_url.h).
//     max_connections (1024): lab clients are tens of people with git-lfs's 8 transfers
//       each, and a connection costs ~100 KiB; lowered at start so that fds remain for
//       serving (RLIMIT_NOFILE is raised to its hard limit first).
//     max_connections_per_client (128): one IP address may be a whole lab behind NAT
//       (16 git-lfs clients x 8), yet one host alone cannot take the server.
//     request_timeout (60s): header + body of one request must arrive within it; bodies are
//       at most a few MiB on a LAN, so only a stalled or hostile client hits it.
//     min_transfer_rate (1024 bytes/s): after a 10 s grace a request arriving slower than
//       this on average is cut (slowloris); 0 turns it off.
//     body_memory_budget (256 MiB): request bodies buffered at once across all connections
//       (the first 64 KiB of each not counted); over it a request gets 503 + Retry-After.
//              tls_cert = "", tls_key = "", plain_listen = "", access_log = ""
//     tls_cert, tls_key: PEM files (the certificate file may carry the chain); with them
//       `listen` speaks HTTPS only (TLS 1.2+). Reloaded on SIGHUP: new connections use the new
//       certificate; files that do not load are logged and the running one stays.
//     plain_listen: "HOST:PORT" (or "unix:/path") of a plain HTTP listener beside the HTTPS
//       one, e.g. "0.0.0.0:8080" for clients that cannot be given the lab's CA.
//     access_log: the audit log, one JSON line per request (daemon/access_log.h); reopened
//       on SIGUSR1 (logrotate: packaging/logrotate/mirrord).
//   [storage]  root = "./var/mirrord"
//   [admin]    token_file = "<root>/admin.token", listen = ""
//     listen: "127.0.0.1:8081" or "unix:/run/mirrord/admin.sock": the admin API (/api/v1/)
//       is served there only (plain HTTP, always behind the admin token) and answers 404 on
//       [server] listen and plain_listen.
//   [sync]     stall_timeout = "60s", concurrency = 4, refspecs = ["+refs/heads/*", ...],
//              maintenance = true, default_poll_interval = "10m", per_host_concurrency = 4,
//              retry_attempts = 5, retry_backoff = "30s", retry_backoff_max = "1h",
//              retired_retention = "30d"
//     retired_retention (30d): a repo removed from [[repos]] stops syncing at once; its mirror
//       is kept (and served) this long, then deleted; `mirrorctl remove` deletes it sooner.
//   [queue]    backend = "sqlite" | "redis", redis_url = "redis://127.0.0.1:6379/0",
//              redis_key_prefix = "mirrord:", node_id = "<hostname>", lease = "60s"
//   [webhooks.github] secret_file = "/etc/mirrord/github-webhook.secret"
//   [lfs]      enabled = true, history = "tips" | "all", include = [], exclude = [],
//              connections = 8, concurrent_objects = 4, per_host_connections = 16,
//              verify_retries = 2, pull_through_timeout = "30m", download_threads = 32,
//              quarantine_budget = 1073741824 (bytes), quarantine_per_object = 1,
//              corrupt_backoff = "5m", corrupt_backoff_max = "1d"
//   [gc]       grace = "7d", interval = "1d"
//     grace (7d): an LFS object no kept ref, image or sync in progress references is deleted
//       once it has stayed so this long; unreachable loose git objects of the mirrors too
//       (storage/lfs_gc.h). interval (1d): how often mirrord collects; 0 turns it off
//       (`mirrorctl gc` still works).
//   [verify]   rate = 33554432 (bytes/s), interval = "7d"
//     The background scrub re-hashes every stored LFS object at most `rate` bytes per second,
//     a full pass starting every `interval` (0: no scrub; `mirrorctl verify` still works).
//   [upstreams.NAME] url = "https://example.com/{repo}.git", token_file = "...",
//              private = true | false
//     private: whether this upstream's repos need a read token (`mirrorctl token create`);
//       unset: true when token_file is set (what upstream needs a token for is not for
//       everyone on the LAN), else false. Repos added through the API follow it.
//   [[repos]]  name = "THUDM/GLM-4", upstream = "github", path = "THUDM/GLM-4",
//              url = "...", poll_interval = "10m", refspecs = [...],
//              lfs = true, lfs_history = "tips", lfs_include = [...], lfs_exclude = [...],
//              private = true | false
//     private: overrides the upstream's default for this repo (a repo with an explicit url
//       is public unless it says private = true).
//   [[builds]] and [registries.NAME]: the build stage's recipes (with `push`, where each
//              built image is pushed) and the registries images come from and go to
//              (url, username + password_file or token_file, ca_file, insecure; secret
//              files read when each push starts); every key is listed at the top of
//              common/build_config.h.
//
// Keys are extended, never renamed. Unknown keys are errors (a typo must not silently
// fall back to a default). Durations are "90s", "10m", "2h", "1d" or integer seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/build_config.h"
#include "common/listen_address.h"
#include "common/live_value.h"
#include "common/log.h"
#include "common/status.h"

namespace mirrord {

struct UpstreamConfig {
  std::string name;
  std::string url_template;          // contains "{repo}"
  std::filesystem::path token_file;  // empty: anonymous
  // `private`: whether its repos need a read token; unset: private when token_file is set.
  std::optional<bool> is_private;
};

// Which LFS objects a repo's sync fetches. Objects filtered out are still served: fetched
// from upstream on first request (pull-through) and kept.
struct LfsPolicy {
  bool enabled = true;
  bool all_history = false;          // every commit's objects, not only the refs' tips
  std::vector<std::string> include;  // path globs; empty: everything
  std::vector<std::string> exclude;  // path globs, applied after include
};

struct RepoConfig {
  std::string name;      // local name (validated)
  std::string upstream;  // named upstream; empty when `url` is set
  std::string path;      // the repo's path at the upstream; default: name
  std::string url;       // explicit clone URL; overrides upstream+path
  std::optional<std::chrono::seconds> poll_interval;
  std::vector<std::string> refspecs;  // empty: [sync] refspecs
  std::optional<LfsPolicy> lfs;       // unset: [lfs] defaults
  std::optional<bool> is_private;     // `private`; unset: its upstream's default
};

struct LfsConfig {
  LfsPolicy policy;               // defaults for repos that set none
  int connections = 8;            // ranges of one large object fetched at once
  int concurrent_objects = 4;     // objects fetched at once per sync
  int per_host_connections = 16;  // across all syncs, per upstream host
  int verify_retries = 2;         // refetches after a hash mismatch before giving up
  std::chrono::seconds pull_through_timeout{1800};  // a client waits this long at most
  // Threads shared by all LFS downloads (objects and ranged connections beyond each
  // download's own thread): the daemon's download threads stay within this whatever the
  // number of syncs.
  int download_threads = 32;
  // Data that failed verification is kept in <root>/lfs/quarantine within this many bytes
  // in all and this many copies per object, the oldest dropped first (0 copies: none kept).
  uint64_t quarantine_budget = uint64_t{1} << 30;
  int quarantine_per_object = 1;
  // An object whose fetches failed verification in two syncs in a row (the upstream or a
  // proxy corrupts it) is not fetched again before this delay, doubling per further failed
  // sync up to the max (one failed sync alone is retried at once).
  std::chrono::seconds corrupt_backoff{300};
  std::chrono::seconds corrupt_backoff_max{86400};
};

// [gc]: garbage collection of the LFS store and the mirrors.
struct GcConfig {
  std::chrono::seconds grace{7 * 86400};
  std::chrono::seconds interval{86400};  // 0: no scheduled collection
};

// [verify]: the background scrub of the LFS store.
struct VerifyConfig {
  uint64_t rate = 32u << 20;                 // bytes hashed per second at most; 0: no scrub
  std::chrono::seconds interval{7 * 86400};  // a full pass starts this often; 0: no scrub
};

struct Config {
  // [server]
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;  // 0: pick a free port (tests)
  std::chrono::seconds read_timeout{30};
  LogLevel log_level = LogLevel::kInfo;
  std::string public_url;  // "" or normalized by NormalizePublicUrl
  size_t max_connections = 1024;
  size_t max_connections_per_client = 128;
  std::chrono::seconds request_timeout{60};
  uint64_t min_transfer_rate = 1024;           // bytes/s; 0: no minimum
  uint64_t body_memory_budget = 256ull << 20;  // bytes
  // [server] TLS, the plain listener beside it and the audit log; [admin] listen (issue 13).
  std::filesystem::path tls_cert;             // PEM; with tls_key, `listen` speaks HTTPS
  std::filesystem::path tls_key;              // PEM
  std::optional<ListenAddress> plain_listen;  // plain HTTP beside HTTPS (needs tls_cert)
  std::filesystem::path access_log;           // "" : no audit log
  std::optional<ListenAddress> admin_listen;  // set: /api/v1/ only there, 404 on `listen`
  // [storage]
  std::filesystem::path storage_root = "./var/mirrord";
  // [admin]
  std::filesystem::path admin_token_file = "./var/mirrord/admin.token";  // <root>/admin.token
  // [sync]
  std::chrono::seconds stall_timeout{60};  // abort a transfer without progress this long
  int sync_concurrency = 4;
  std::vector<std::string> refspecs = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
  bool maintenance = true;  // commit-graph and bitmaps after each sync
  std::chrono::seconds default_poll_interval{600};
  int per_host_concurrency = 4;  // syncs running at once against one upstream host
  int retry_attempts = 5;        // attempts of a failing sync before waiting for a trigger
  std::chrono::seconds retry_backoff{30};  // first retry delay; doubles, with jitter
  std::chrono::seconds retry_backoff_max{3600};
  // A repo removed from [[repos]] keeps its mirror this long, then it is deleted
  // (daemon/config_reconciler.h).
  std::chrono::seconds retired_retention{30 * 86400};
  // [queue]
  std::string queue_backend = "sqlite";  // "sqlite" (embedded) or "redis" (several nodes)
  std::string redis_url;                 // required with backend "redis"
  std::string redis_key_prefix = "mirrord:";
  std::string node_id;             // this node's name in the queue; "" -> the host name
  std::chrono::seconds lease{60};  // a dead node's running job is taken over after this
  // [webhooks.github]
  std::filesystem::path github_webhook_secret_file;  // "" -> the endpoint answers 404
  // [lfs]
  LfsConfig lfs;
  // [gc], [verify]
  GcConfig gc;
  VerifyConfig verify;
  // [upstreams.*]: always has "github" and "hf".
  std::map<std::string, UpstreamConfig> upstreams;
  // [[repos]]
  std::vector<RepoConfig> repos;
  // [[builds]] and [registries.*] (common/build_config.h)
  std::vector<BuildRecipe> builds;
  std::map<std::string, RegistryConfig> registries;

  std::filesystem::path RepoDir(std::string_view name) const {
    return storage_root / "repos" / (std::string(name) + ".git");
  }
  std::filesystem::path CatalogPath() const { return storage_root / "catalog.sqlite"; }
  std::filesystem::path LfsStoreDir() const { return storage_root / "lfs"; }
  // The LFS policy of the repo called `name`: its [[repos]] entry's, else [lfs]'s.
  const LfsPolicy& LfsPolicyFor(std::string_view name) const;
  // Whether reading the repo `name` (mirrored from `upstream`, "" for an explicit url)
  // needs a read token: its [[repos]] private, else its upstream's private, else whether
  // that upstream has a token_file. A repo with an explicit url and no [[repos]] private
  // is public.
  bool RepoIsPrivate(std::string_view name, std::string_view upstream) const;
};

// The configuration mirrord runs with now: replaced whole by a reload (SIGHUP), so readers
// take a snapshot (Get()) per use instead of keeping references into it.
using LiveConfig = LiveValue<Config>;

// The embedded defaults: what mirrord runs with when given no --config.
Config DefaultConfig();

// Parses TOML text. `origin` names the source in errors. On failure the Status message is
// one line naming the file and key, e.g.
//   "mirrord.toml: [server] listen: expected HOST:PORT, got \"localhost\"".
Result<Config> ParseConfig(std::string_view toml_text, std::string_view origin);

// Reads and parses a file.
Result<Config> LoadConfigFile(const std::filesystem::path& file);

// Checks a [server] public_url and returns it without trailing slashes. InvalidArgument
// unless it is http:// or https:// with a non-empty host and no query, fragment, user
// information, whitespace or control characters.
Result<std::string> NormalizePublicUrl(std::string_view url);

// Parses "90s", "10m", "2h", "1d" or a bare integer (seconds).
Result<std::chrono::seconds> ParseDuration(std::string_view text);
// ParseDuration, also accepting a zero ("0", "0s", "0m", "0h", "0d"): for a grace that may
// be none and an interval that 0 turns off.
Result<std::chrono::seconds> ParseDurationOrZero(std::string_view text);

// The clone URL for `repo`: its explicit url, or its upstream's template with {repo}
// replaced by its path. NotFound if the upstream is not configured.
Result<std::string> ResolveUpstreamUrl(const Config& config, const RepoConfig& repo);

// Checks a repo's source as [[repos]] and the admin API give it: an http(s) `url` without
// whitespace, or a configured `upstream` with a valid `path` (ResolveUpstreamUrl), not both.
// InvalidArgument with a one-line message otherwise. Shared by config parsing and
// registration so that --check-config refuses exactly what registering would.
Status ValidateRepoSource(const Config& config, std::string_view upstream, std::string_view path,
                          std::string_view url);

// Same for an ad-hoc (upstream, path) pair.
Result<std::string> ResolveUpstreamUrl(const Config& config, std::string_view upstream,
                                       std::string_view path);

}  // namespace mirrord
