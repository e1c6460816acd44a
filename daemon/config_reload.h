// Loading mirrord's configuration for a start, a reload (SIGHUP, `systemctl reload`) and
// `mirrord --check-config`: one function decides what is refused, so --check-config refuses
// exactly what a start or a reload would, and a reload never applies a config a start
// would refuse.
//
// What a reload changes live: [[repos]] (reconciled: daemon/config_reconciler.h),
// [upstreams.*] (URL templates, token files), [webhooks.github] secret_file (and the secret
// in it), [admin] token_file (and the token in it), [server] log_level, the [sync] limits
// and retries (per_host_concurrency, retry_*, stall_timeout, maintenance,
// poll intervals, retired_retention), the [lfs] policy (enabled/history/include/exclude)
// and [queue] lease. Connections and running syncs go on; each request and each sync uses
// the snapshot it started with.
// The files of [server] tls_cert and tls_key are loaded again (new connections use the new
// certificate; files that do not load keep the running one).
// What needs a restart (a reload logs one line per changed setting and keeps the running
// value): [sync] concurrency, [server] listen, plain_listen, access_log, turning TLS on or
// off, [admin] listen, public_url and the connection limits and timeouts,
// [storage] root, [queue] backend, redis_url, redis_key_prefix and node_id, the other [lfs]
// settings (connections, threads, quarantine, backoffs), [[builds]] and [registries.*].
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace mirrord {

struct LoadedConfig {
  std::shared_ptr<const Config> config;
  std::string webhook_secret;  // "" when [webhooks.github] secret_file is unset
};

// Parses `file` (the embedded defaults when empty) and reads the secret files it names that
// mirrord cannot run without (the webhook secret; each [registries.*] password_file and
// token_file, which pushes read again when they start, and ca_file must exist). On failure one line
// naming the file and key (InvalidArgument, or the read's error). Has no side effects.
Result<LoadedConfig> LoadDaemonConfig(const std::filesystem::path& file);

// `next` with every restart-only setting (see above) taken from `running`; `not_applied`
// gets one line per restart-only setting that differs, e.g.
//   "[server] listen: 127.0.0.1:8080 -> 0.0.0.0:8080".
Config KeepRestartOnlySettings(const Config& running, Config next,
                               std::vector<std::string>* not_applied);

}  // namespace mirrord
