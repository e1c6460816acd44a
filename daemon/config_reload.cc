#include "daemon/config_reload.h"

#include <sstream>

#include "daemon/github_webhook_handler.h"
#include "daemon/registry_target.h"

namespace mirrord {
namespace {

std::string Listen(const Config& c) { return c.listen_host + ":" + std::to_string(c.listen_port); }

template <typename T>
std::string Text(const T& v) {
  std::ostringstream out;
  if constexpr (std::is_same_v<T, std::chrono::seconds>) {
    out << v.count() << "s";
  } else {
    out << v;
  }
  return out.str();
}

// Copies `field` of `running` into `next` and reports it when they differed.
template <typename T>
void Keep(std::string_view name, const T& running, T& next, std::vector<std::string>* out) {
  if (running == next) return;
  if constexpr (requires(std::ostream & o) { o << running; } ||
                std::is_same_v<T, std::chrono::seconds>) {
    out->push_back(std::string(name) + ": " + Text(running) + " -> " + Text(next));
  } else {
    out->push_back(std::string(name) + ": changed");
  }
  next = running;
}

}  // namespace

Result<LoadedConfig> LoadDaemonConfig(const std::filesystem::path& file) {
  Result<Config> parsed = file.empty() ? Result<Config>(DefaultConfig()) : LoadConfigFile(file);
  if (!parsed.ok()) return parsed.status();
  LoadedConfig loaded;
  if (!parsed->github_webhook_secret_file.empty()) {
    Result<std::string> secret = ReadWebhookSecret(parsed->github_webhook_secret_file);
    if (!secret.ok()) return secret.status().WithContext("[webhooks.github] secret_file");
    loaded.webhook_secret = std::move(*secret);
  }
  // Pushes read the secrets again when they start (rotation); refused here when unreadable
  // now, so that a start, a reload and --check-config say so at once.
  for (const auto& [name, registry] : parsed->registries) {
    Result<RegistryTarget> target = ReadRegistryTarget(registry);
    if (!target.ok()) return target.status();
  }
  loaded.config = std::make_shared<const Config>(std::move(*parsed));
  return loaded;
}

Config KeepRestartOnlySettings(const Config& running, Config next,
                               std::vector<std::string>* not_applied) {
  std::vector<std::string>& out = *not_applied;
  if (Listen(running) != Listen(next)) {
    out.push_back("[server] listen: " + Listen(running) + " -> " + Listen(next));
    next.listen_host = running.listen_host;
    next.listen_port = running.listen_port;
  }
  Keep("[server] public_url", running.public_url, next.public_url, &out);
  Keep("[server] read_timeout", running.read_timeout, next.read_timeout, &out);
  Keep("[server] request_timeout", running.request_timeout, next.request_timeout, &out);
  Keep("[server] max_connections", running.max_connections, next.max_connections, &out);
  Keep("[server] max_connections_per_client", running.max_connections_per_client,
       next.max_connections_per_client, &out);
  Keep("[server] min_transfer_rate", running.min_transfer_rate, next.min_transfer_rate, &out);
  Keep("[server] body_memory_budget", running.body_memory_budget, next.body_memory_budget, &out);
  // Listeners and the audit log file are set up at start; the certificate files are
  // reloaded (main.cc), but turning TLS on or off changes what `listen` speaks.
  auto listen_text = [](const std::optional<ListenAddress>& a) {
    return a ? a->ToString() : std::string("(none)");
  };
  auto keep_listener = [&](std::string_view key, std::optional<ListenAddress> running_value,
                           std::optional<ListenAddress>& next_value) {
    if (listen_text(running_value) != listen_text(next_value)) {
      out.push_back(std::string(key) + ": " + listen_text(running_value) + " -> " +
                    listen_text(next_value));
      next_value = std::move(running_value);
    }
  };
  keep_listener("[server] plain_listen", running.plain_listen, next.plain_listen);
  keep_listener("[admin] listen", running.admin_listen, next.admin_listen);
  if (running.access_log != next.access_log) {
    out.push_back("[server] access_log: " + running.access_log.string() + " -> " +
                  next.access_log.string());
    next.access_log = running.access_log;
  }
  if (running.tls_cert.empty() != next.tls_cert.empty()) {
    out.push_back(std::string("[server] tls_cert/tls_key: TLS ") +
                  (running.tls_cert.empty() ? "off -> on" : "on -> off"));
    next.tls_cert = running.tls_cert;
    next.tls_key = running.tls_key;
  }
  // The worker pool is sized at start.
  Keep("[sync] concurrency", running.sync_concurrency, next.sync_concurrency, &out);
  if (running.storage_root != next.storage_root) {
    out.push_back("[storage] root: " + running.storage_root.string() + " -> " +
                  next.storage_root.string());
    next.storage_root = running.storage_root;
  }
  Keep("[queue] backend", running.queue_backend, next.queue_backend, &out);
  Keep("[queue] redis_url", running.redis_url, next.redis_url, &out);
  Keep("[queue] redis_key_prefix", running.redis_key_prefix, next.redis_key_prefix, &out);
  Keep("[queue] node_id", running.node_id, next.node_id, &out);
  Keep("[lfs] connections", running.lfs.connections, next.lfs.connections, &out);
  Keep("[lfs] concurrent_objects", running.lfs.concurrent_objects, next.lfs.concurrent_objects,
       &out);
  Keep("[lfs] per_host_connections", running.lfs.per_host_connections,
       next.lfs.per_host_connections, &out);
  Keep("[lfs] verify_retries", running.lfs.verify_retries, next.lfs.verify_retries, &out);
  Keep("[lfs] pull_through_timeout", running.lfs.pull_through_timeout,
       next.lfs.pull_through_timeout, &out);
  Keep("[lfs] download_threads", running.lfs.download_threads, next.lfs.download_threads, &out);
  Keep("[lfs] quarantine_budget", running.lfs.quarantine_budget, next.lfs.quarantine_budget, &out);
  Keep("[lfs] quarantine_per_object", running.lfs.quarantine_per_object,
       next.lfs.quarantine_per_object, &out);
  Keep("[lfs] corrupt_backoff", running.lfs.corrupt_backoff, next.lfs.corrupt_backoff, &out);
  Keep("[lfs] corrupt_backoff_max", running.lfs.corrupt_backoff_max, next.lfs.corrupt_backoff_max,
       &out);
  if (running.builds.size() != next.builds.size() ||
      running.registries.size() != next.registries.size() ||
      !std::equal(running.builds.begin(), running.builds.end(), next.builds.begin(),
                  [](const BuildRecipe& a, const BuildRecipe& b) { return a.name == b.name; })) {
    out.push_back("[[builds]] / [registries.*]: changed");
  }
  next.builds = running.builds;
  next.registries = running.registries;
  return next;
}

}  // namespace mirrord
