// mirrord: the mirror daemon. Wires the concrete components together:
// config -> catalog -> scheduler -> HTTP server (git smart HTTP, admin API, metrics).
#include <prometheus/counter.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "common/admin_token.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/registry_token.h"
#include "daemon/access_log.h"
#include "daemon/admin_api.h"
#include "daemon/backup_api.h"
#include "daemon/base_url.h"
#include "daemon/build_api.h"
#include "daemon/build_job_runner.h"
#include "daemon/config_reload.h"
#include "daemon/gc_api.h"
#include "daemon/gc_service.h"
#include "daemon/git_http_handler.h"
#include "daemon/github_webhook_handler.h"
#include "daemon/hf_api_handler.h"
#include "daemon/hf_metrics.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_read_gate.h"
#include "daemon/hf_repo_locator.h"
#include "daemon/hf_resolve_handler.h"
#include "daemon/http_server.h"
#include "daemon/image_archive_handler.h"
#include "daemon/images_api.h"
#include "daemon/lfs_http_handler.h"
#include "daemon/lfs_sync.h"
#include "daemon/metrics.h"
#include "daemon/push_api.h"
#include "daemon/push_job_runner.h"
#include "daemon/read_access.h"
#include "daemon/registry_http_handler.h"
#include "daemon/registry_read_gate.h"
#include "daemon/repo_read_gate.h"
#include "daemon/router.h"
#include "daemon/sync_scheduler.h"
#include "daemon/systemd_notifier.h"
#include "daemon/tls_context.h"
#include "daemon/tokens_api.h"
#include "daemon/upstream_poller.h"
#include "daemon/verify_api.h"
#include "daemon/verify_service.h"
#include "deploy/image_retention.h"
#include "deploy/oci_store.h"
#include "git/libgit2_status.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"
#include "storage/redis_job_queue.h"
#include "storage/sqlite_job_queue.h"

namespace mirrord {
namespace {

constexpr std::string_view kVersion = "0.1.0";

// The job queue [queue] backend names: the embedded SQLite queue in the catalog file, or a
// Redis shared by several nodes.
Result<std::unique_ptr<JobQueue>> OpenJobQueue(const Config& config) {
  if (config.queue_backend == "redis") {
    Result<RedisQueueOptions> options = ParseRedisUrl(config.redis_url);
    if (!options.ok()) return options.status().WithContext("[queue] redis_url");
    options->key_prefix = config.redis_key_prefix;
    ASSIGN_OR_RETURN(std::unique_ptr<RedisJobQueue> q, RedisJobQueue::Connect(*options));
    return std::unique_ptr<JobQueue>(std::move(q));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobQueue> q, SqliteJobQueue::Open(config.CatalogPath()));
  return std::unique_ptr<JobQueue>(std::move(q));
}

// [queue] node_id, else the host name: a node restarting under the same id takes its own
// interrupted jobs back at once instead of waiting for their leases.
std::string NodeId(const Config& config) {
  if (!config.node_id.empty()) return config.node_id;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "mirrord";
  return host;
}

// Named wiring between the scheduler and the protocol handlers.

// Which mirror the git handler serves for a name: the scheduler's serving gate.
RepoDirResolver ServedMirrors(const SyncScheduler& scheduler) {
  return std::bind_front(&ServableRepos::Lookup, &scheduler.servable());
}

// How the LFS handler fetches an object a client asks for that the store lacks.
LfsPullThrough PullThroughFetch(SyncScheduler& scheduler) {
  return std::bind_front(&SyncScheduler::FetchLfsObject, &scheduler);
}

// Requests under a repo path: LFS ones to the LFS handler, the rest to git; what each
// serves is counted under its protocol (mirrord_served_*).
RepoHandler RepoRequests(std::shared_ptr<GitHttpHandler> git, std::shared_ptr<LfsHttpHandler> lfs,
                         const ServedTraffic& served) {
  return [git = std::move(git), lfs = std::move(lfs), git_counters = served.For("git"),
          lfs_counters = served.For("lfs")](HttpExchange& ex,
                                            const RepoPath& repo) -> boost::asio::awaitable<void> {
    if (LfsHttpHandler::Handles(repo)) {
      CountingExchange counted(ex, lfs_counters);
      co_await lfs->Handle(counted, repo);
    } else {
      CountingExchange counted(ex, git_counters);
      co_await git->Handle(counted, repo);
    }
  };
}

// `handler`, with what it serves counted under one protocol (mirrord_served_*).
HttpHandler Counted(ServedTraffic::Counters counters, HttpHandler handler) {
  return
      [counters, handler = std::move(handler)](HttpExchange& ex) -> boost::asio::awaitable<void> {
        CountingExchange counted(ex, counters);
        co_await handler(counted);
      };
}

// Per-endpoint body limits of requests under a repo path; git smart HTTP keeps
// kDefaultBodyLimit.
RouteOptions RepoBodyLimits(http::verb, const RepoPath& repo) {
  return LfsHttpHandler::Handles(repo) ? LfsHttpHandler::RouteOptionsFor(repo) : RouteOptions{};
}

// Listens on `address` (TCP or Unix socket); "http[s]://HOST:PORT" or "unix:PATH" for logs.
Result<std::string> ListenOn(HttpServer& server, const ListenAddress& address,
                             ListenOptions options) {
  const bool tls = static_cast<bool>(options.tls);
  if (address.is_unix()) {
    RETURN_IF_ERROR(server.ListenUnix(address.unix_path, std::move(options)));
    return "unix:" + address.unix_path.string();
  }
  ASSIGN_OR_RETURN(auto endpoint, server.Listen(address.host, address.port, std::move(options)));
  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(endpoint.port());
}

// Everything mirrord runs on, in construction order (destroyed in reverse). `config_file`
// is re-read on SIGHUP ("" : the embedded defaults).
int Run(const std::filesystem::path& config_file, const LoadedConfig& loaded) {
  // Readers that may see a reload take snapshots of `live`; `config` is the configuration
  // mirrord started with (restart-only settings: listen, storage, server limits, builds).
  LiveConfig live(loaded.config);
  const Config& config = *loaded.config;
  SetMinLogLevel(config.log_level);
  // Before anything opens files: connections, packs and objects all need descriptors.
  const uint64_t open_files = RaiseOpenFileLimit();
  if (Status s = CreateDirectories(config.storage_root / "repos"); !s.ok()) {
    MLOG(Error) << "storage root: " << s.ToString();
    return 1;
  }
  auto token = LoadOrCreateAdminToken(config.admin_token_file);
  if (!token.ok()) {
    MLOG(Error) << "admin token: " << token.status().ToString();
    return 1;
  }
  if (Status s = EnsureLibgit2Initialized(); !s.ok()) {
    MLOG(Error) << "libgit2: " << s.ToString();
    return 1;
  }
  auto catalog = Catalog::Open(config.CatalogPath());
  if (!catalog.ok()) {
    MLOG(Error) << "catalog " << config.CatalogPath() << ": " << catalog.status().ToString();
    return 1;
  }

  BlobStoreOptions store_options;
  store_options.quarantine_budget = config.lfs.quarantine_budget;
  store_options.quarantine_per_object = config.lfs.quarantine_per_object;
  // A live download changes its .part at least every stall_timeout (it reconnects after
  // that long without a byte); twice that unchanged means a holder that stopped.
  store_options.stale_part_after = 2 * config.stall_timeout;
  auto blob_store = BlobStore::Open(config.LfsStoreDir(), store_options);
  if (!blob_store.ok()) {
    MLOG(Error) << "LFS store " << config.LfsStoreDir() << ": " << blob_store.status().ToString();
    return 1;
  }
  // The build stage's manifests, configs and inline layers (deploy/oci_store.h).
  auto oci_store = OciStore::Open(config.storage_root / "oci");
  if (!oci_store.ok()) {
    MLOG(Error) << "OCI store " << (config.storage_root / "oci") << ": "
                << oci_store.status().ToString();
    return 1;
  }
  // What a retention interrupted by a crash left unlisted but not yet removed.
  if (Result<CollectOutcome> collected = CollectUnlistedImages(**catalog, **oci_store);
      !collected.ok()) {
    MLOG(Warning) << "startup: collecting unlisted images: " << collected.status().ToString();
  } else if (collected->manifests > 0) {
    MLOG(Info) << "startup: collected " << collected->manifests << " unlisted manifest(s), "
               << collected->blobs_removed << " blob(s)";
  }
  LfsSyncer lfs_syncer(config.lfs, **catalog, **blob_store);

  Result<std::unique_ptr<JobQueue>> queue = OpenJobQueue(config);
  if (!queue.ok()) {
    MLOG(Error) << "startup: " << queue.status().ToString();
    return 1;
  }
  const std::string node_id = NodeId(config);
  Metrics metrics;
  metrics.SetBuildInfo(kVersion);
  lfs_syncer.AttachMetrics(&metrics);
  // The build stage's jobs run on the dispatcher's workers beside syncs. The runner asks the
  // scheduler's serving gate (created below) which mirror a repo serves.
  const SyncScheduler* served = nullptr;
  BuildJobRunner build_runner(
      live, **catalog, **blob_store, **oci_store,
      [&served](std::string_view repo) { return served->servable().Lookup(repo); }, metrics,
      SystemClock::Instance());
  // Pushes of built images to the lab's registries ([registries.*], a recipe's `push`), as
  // durable jobs beside builds; the pusher sends the bytes the /v2/ route serves.
  std::unique_ptr<ImagePusher> pusher = MakeRegistryPusher(**catalog, **blob_store, **oci_store);
  PushJobRunner push_runner(live, **catalog, *pusher, metrics, SystemClock::Instance());
  {
    std::vector<std::string> registries;
    for (const auto& [name, registry] : config.registries) registries.push_back(name);
    metrics.AddImagePushRegistries(registries);
  }
  SyncScheduler scheduler(live, **catalog, **queue, node_id, metrics, &lfs_syncer,
                          SystemClock::Instance(), &build_runner, &push_runner);
  served = &scheduler;
  build_runner.QueuePushesWith(&scheduler.pushes());
  if (Status s = scheduler.Start(); !s.ok()) {
    MLOG(Error) << "startup: " << s.ToString();
    return 1;
  }

  UpstreamPoller poller(live, scheduler, metrics);
  poller.Start();

  boost::asio::io_context io;
  // Handlers hop onto this pool for SQLite and other blocking calls.
  boost::asio::thread_pool blocking_pool(4);
  // Pull-through LFS downloads for clients: long, so on threads of their own.
  boost::asio::thread_pool lfs_fetch_pool(4);
  AdminApi admin_api(scheduler, blocking_pool, *token);
  AuthFailureLimiter auth_failures(SystemClock::Instance());
  ReadAccess read_access(live, **catalog, auth_failures);
  auto tokens_api = std::make_shared<TokensApi>(**catalog, blocking_pool, *token);
  GitHttpOptions git_options;
  git_options.git_home = config.storage_root;
  auto git_handler = std::make_shared<GitHttpHandler>(ServedMirrors(scheduler), git_options);
  // Every URL handed to clients starts from this ([server] public_url, else a Host that
  // names this server, else the address the client connected to).
  BaseUrlOptions base_url_options;
  base_url_options.public_url = config.public_url;
  base_url_options.listen_names.push_back(config.listen_host);
  if (char host[256] = {}; ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
    base_url_options.listen_names.emplace_back(host);
  }
  LfsHttpOptions lfs_options;
  lfs_options.base_url = BaseUrl(base_url_options);
  auto lfs_handler =
      std::make_shared<LfsHttpHandler>(**catalog, **blob_store, blocking_pool, lfs_fetch_pool,
                                       PullThroughFetch(scheduler), lfs_options);
  std::atomic<bool> ready{true};

  auto router = std::make_shared<Router>();
  // The admin API (/api/v1/) on [admin] listen when set (then not routed on the public
  // listeners at all: 404 there), else beside everything else.
  auto admin_router = config.admin_listen ? std::make_shared<Router>() : router;
  router->Add(http::verb::get, "/healthz", [](HttpExchange& ex) -> boost::asio::awaitable<void> {
    co_await ex.Respond(MakeResponse(ex.request(), http::status::ok, "ok\n"));
  });
  router->Add(http::verb::get, "/readyz",
              [&ready](HttpExchange& ex) -> boost::asio::awaitable<void> {
                bool is_ready = ready.load();
                co_await ex.Respond(MakeResponse(
                    ex.request(), is_ready ? http::status::ok : http::status::service_unavailable,
                    is_ready ? "ready\n" : "shutting down\n"));
              });
  router->Add(http::verb::get, "/metrics",
              [&metrics](HttpExchange& ex) -> boost::asio::awaitable<void> {
                co_await ex.Respond(MakeResponse(ex.request(), http::status::ok, metrics.Render(),
                                                 "text/plain; version=0.0.4; charset=utf-8"));
              });
  admin_router->AddPrefix(
      {http::verb::get, http::verb::post, http::verb::delete_}, "/api/v1/",
      [&admin_api](HttpExchange& ex) { return admin_api.Handle(ex); },
      RouteOptions{.body_limit = 1 << 20, .on_body_too_large = {}});
  // The build stage: the read-only registry under /v2/ and the build endpoint.
  auto registry =
      std::make_shared<RegistryHttpHandler>(**catalog, **blob_store, **oci_store, blocking_pool);
  // Private repos' images need a read token (Basic, or the Docker token flow at /v2/token).
  RegistryGateOptions registry_gate;
  registry_gate.token_key = RegistryTokenKey(*token);
  registry_gate.base_url = BaseUrl(base_url_options);
  auto registry_route =
      Counted(metrics.served().For("registry"),
              GateRegistryReads(read_access, live, blocking_pool, SystemClock::Instance(),
                                std::move(registry_gate), registry));
  const std::initializer_list<http::verb> registry_verbs = {http::verb::get,   http::verb::head,
                                                            http::verb::post,  http::verb::put,
                                                            http::verb::patch, http::verb::delete_};
  router->Add(registry_verbs, "/v2", registry_route);
  router->AddPrefix(registry_verbs, "/v2/", registry_route,
                    RouteOptions{.body_limit = 1 << 16, .on_body_too_large = {}});
  auto build_api =
      std::make_shared<BuildApi>(scheduler.builds(), build_runner, blocking_pool, *token);
  admin_router->AddPrefix(
      {http::verb::get, http::verb::post}, "/api/v1/builds/",
      [build_api](HttpExchange& ex) { return build_api->Handle(ex); },
      RouteOptions{.body_limit = 1 << 16, .on_body_too_large = {}});
  auto tokens_route = [tokens_api](HttpExchange& ex) { return tokens_api->Handle(ex); };
  admin_router->Add({http::verb::get, http::verb::post}, "/api/v1/tokens", tokens_route,
                    RouteOptions{.body_limit = kTokensApiBodyLimit, .on_body_too_large = {}});
  admin_router->AddPrefix({http::verb::delete_}, "/api/v1/tokens/", tokens_route,
                          RouteOptions{.body_limit = 1 << 12, .on_body_too_large = {}});
  auto images_api = std::make_shared<ImagesApi>(config, **catalog, **oci_store,
                                                BaseUrl(base_url_options), blocking_pool, *token);
  // GET /api/v1/images/<name>:<tag>/archive: the image as an OCI archive (image export).
  auto image_archive = std::make_shared<ImageArchiveHandler>(**catalog, **blob_store, **oci_store,
                                                             blocking_pool, *token);
  auto push_api =
      std::make_shared<PushApi>(scheduler.pushes(), push_runner, **catalog, blocking_pool, *token);
  // POST /api/v1/images/NAME:TAG/push queues a push (PushApi); .../archive is the export; the
  // rest of /api/v1/images is ImagesApi's.
  auto images_route = [images_api, image_archive, push_api](HttpExchange& ex) {
    if (ex.request().method() == http::verb::post && IsImagePushPath(ex.path())) {
      return push_api->HandleImagePush(ex);
    }
    return ImageArchiveHandler::Handles(ex.path()) ? image_archive->Handle(ex)
                                                   : images_api->Handle(ex);
  };
  auto pushes_route = [push_api](HttpExchange& ex) { return push_api->HandleRuns(ex); };
  admin_router->Add(http::verb::get, "/api/v1/pushes", pushes_route);
  admin_router->AddPrefix({http::verb::get}, "/api/v1/pushes/", pushes_route);
  admin_router->Add({http::verb::get, http::verb::post}, "/api/v1/images", images_route);
  admin_router->AddPrefix({http::verb::get, http::verb::post}, "/api/v1/images/", images_route,
                          RouteOptions{.body_limit = 1 << 16, .on_body_too_large = {}});
  // POST /api/v1/backup: a consistent backup into a directory (daemon/backup.h).
  auto backup_api =
      std::make_shared<BackupApi>(BackupSources{config.CatalogPath(), config.storage_root / "repos",
                                                blob_store->get(), oci_store->get()},
                                  *token);
  admin_router->Add(
      http::verb::post, "/api/v1/backup",
      [backup_api](HttpExchange& ex) { return backup_api->Handle(ex); },
      RouteOptions{.body_limit = 1 << 16, .on_body_too_large = {}});
  auto github_webhooks = std::make_shared<GitHubWebhookHandler>(loaded.webhook_secret, scheduler,
                                                                metrics, blocking_pool);
  router->Add(
      http::verb::post, "/webhooks/github",
      [github_webhooks](HttpExchange& ex) { return github_webhooks->Handle(ex); },
      RouteOptions{.body_limit = kGitHubWebhookBodyLimit,
                   .on_body_too_large = [github_webhooks](const http::request_header<>& h) {
                     github_webhooks->RecordTooLarge(h);
                   }});
  // The Hugging Face–compatible endpoint (HF_ENDPOINT=http://mirror:8080).
  HfRepoLocator hf_locator(**catalog, ServedMirrors(scheduler));
  // A publication moves branches and tags: the endpoint's cached resolutions go.
  scheduler.servable().AddListener(
      [&hf_locator](std::string_view) { hf_locator.cache().Invalidate(); });
  // Garbage collection and verification at rest (daemon/gc_service.h, verify_service.h):
  // objects leaving the store drop the HF endpoint's cached "in the store" answers.
  GcMetrics gc_metrics(metrics.registry());
  auto forget_stored = [&hf_locator] { hf_locator.cache().ForgetStoredObjects(); };
  GcService gc(live, **catalog, **blob_store, scheduler, &gc_metrics, SystemClock::Instance(),
               forget_stored);
  VerifyService verify(live, **catalog, **blob_store, PullThroughFetch(scheduler), &gc_metrics,
                       forget_stored);
  auto gc_api = std::make_shared<GcApi>(gc, blocking_pool, *token);
  auto verify_api = std::make_shared<VerifyApi>(verify, blocking_pool, *token);
  for (const char* path : {"/api/v1/gc", "/api/v1/gc/purge"}) {
    admin_router->Add(http::verb::post, path,
                      [gc_api](HttpExchange& ex) { return gc_api->Handle(ex); });
  }
  admin_router->Add(http::verb::post, "/api/v1/verify",
                    [verify_api](HttpExchange& ex) { return verify_api->Handle(ex); });
  gc.Start();
  verify.Start();
  auto hf_metrics = std::make_shared<HfMetrics>(metrics.registry());
  auto hf_resolve = std::make_shared<HfResolveHandler>(
      hf_locator, **catalog, **blob_store, blocking_pool, lfs_fetch_pool,
      PullThroughFetch(scheduler), config.storage_root);
  // Private repos need a read token here too (HF_TOKEN: daemon/hf_read_gate.h).
  HttpHandler hf_resolve_gated =
      GateHfReads(read_access, hf_locator, blocking_pool, HfResolveGateTarget(),
                  [hf_resolve](HttpExchange& m) { return hf_resolve->Handle(m); });
  router->AddClaim(
      {http::verb::get}, IsHfResolvePath,
      Counted(metrics.served().For("hf"), [hf_resolve_gated, hf_metrics](HttpExchange& ex) {
        return hf_metrics->Meter(ex, true, hf_resolve_gated);
      }));
  auto hf_api =
      std::make_shared<HfApiHandler>(hf_locator, blocking_pool, BaseUrl(base_url_options));
  HttpHandler hf_api_gated = GateHfReads(read_access, hf_locator, blocking_pool, HfApiGateTarget(),
                                         [hf_api](HttpExchange& m) { return hf_api->Handle(m); });
  for (std::string prefix : {"/api/models/", "/api/datasets/"}) {
    router->AddPrefix({http::verb::get, http::verb::post}, prefix,
                      Counted(metrics.served().For("hf"),
                              [hf_api_gated, hf_metrics](HttpExchange& ex) {
                                return hf_metrics->Meter(ex, false, hf_api_gated);
                              }),
                      RouteOptions{.body_limit = kHfApiBodyLimit, .on_body_too_large = {}});
  }
  // Read access: private repos need a read token on every protocol (daemon/read_access.h).
  router->SetRepoHandler(GateRepoReads(read_access, blocking_pool,
                                       RepoRequests(git_handler, lfs_handler, metrics.served())),
                         RepoBodyLimits);

  HttpServerOptions server_options;
  server_options.read_timeout = config.read_timeout;
  server_options.request_timeout = config.request_timeout;
  server_options.min_transfer_rate = config.min_transfer_rate;
  server_options.body_memory_budget = config.body_memory_budget;
  server_options.max_connections_per_client = config.max_connections_per_client;
  server_options.max_connections = ConnectionCapForFdLimit(open_files, config.max_connections);
  if (server_options.max_connections < config.max_connections) {
    MLOG(Warning) << "[server] max_connections lowered from " << config.max_connections << " to "
                  << server_options.max_connections << ": the open file limit is " << open_files
                  << " and " << kReservedFds << " descriptors stay reserved for serving";
  }
  server_options.max_connections_per_client =
      std::min(server_options.max_connections_per_client, server_options.max_connections);
  // The audit log ([server] access_log), written off the network threads.
  std::unique_ptr<AccessLog> access_log;
  if (!config.access_log.empty()) {
    Result<std::unique_ptr<AccessLog>> opened = AccessLog::Open(config.access_log);
    if (!opened.ok()) {
      MLOG(Error) << "[server] access_log: " << opened.status().ToString();
      return 1;
    }
    access_log = std::move(*opened);
    prometheus::Counter& dropped =
        prometheus::BuildCounter()
            .Name("mirrord_access_log_dropped_total")
            .Help("Access log lines dropped: the writer fell behind or the file failed")
            .Register(metrics.registry())
            .Add({});
    access_log->set_on_drop([&dropped] { dropped.Increment(); });
    server_options.on_request = [log = access_log.get()](const HttpAccessRecord& r) {
      log->Append(r);
    };
  }
  // [server] tls_cert/tls_key: `listen` speaks HTTPS; the certificate is reloaded on SIGHUP.
  std::unique_ptr<ServerTls> tls;
  ListenOptions public_listen;
  if (!config.tls_cert.empty()) {
    Result<std::unique_ptr<ServerTls>> loaded_tls =
        ServerTls::Load(config.tls_cert, config.tls_key);
    if (!loaded_tls.ok()) {
      MLOG(Error) << "TLS: " << loaded_tls.status().message();
      return 1;
    }
    tls = std::move(*loaded_tls);
    public_listen.tls = [&tls] { return tls->Current(); };
  }
  HttpServer server(io, router, server_options);
  // Its own connection caps, so that clients filling the public ones cannot lock admins out.
  std::optional<HttpServer> admin_server;
  if (config.admin_listen) admin_server.emplace(io, admin_router, server_options);
  // Signals are caught before the port is announced: a SIGTERM right after the
  // "listening on" line must stop mirrord gracefully, not kill it.
  SystemdNotifier systemd(io);
  // SIGHUP (systemctl reload) re-reads the config file (daemon/config_reload.h).
  boost::asio::signal_set hangups(io, SIGHUP);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  // SIGUSR1 (logrotate's postrotate) reopens the access log.
  boost::asio::signal_set usr1(io, SIGUSR1);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    MLOG(Info) << "received " << (signo == SIGTERM ? "SIGTERM" : "SIGINT") << ", stopping";
    ready.store(false);
    systemd.Stopping();
    systemd.Stop();
    // Syncs are cancelled first so that clients following them see "interrupted" before
    // the server drains, instead of holding the drain open.
    scheduler.BeginShutdown();
    lfs_syncer.Stop();
    backup_api->Cancel();
    hangups.cancel();
    server.Stop(std::chrono::seconds(10));
    if (admin_server) admin_server->Stop(std::chrono::seconds(10));
    usr1.cancel();
  });

  auto endpoint = server.Listen(config.listen_host, config.listen_port, public_listen);
  if (!endpoint.ok()) {
    MLOG(Error) << "listen on " << config.listen_host << ":" << config.listen_port << ": "
                << endpoint.status().ToString();
    return 1;
  }
  // Tests and scripts wait for this exact line to learn the port.
  MLOG(Info) << "mirrord " << kVersion << " listening on " << (tls ? "https://" : "http://")
             << endpoint->address().to_string() << ":" << endpoint->port() << " (storage "
             << config.storage_root.string() << ")";
  if (config.plain_listen) {
    Result<std::string> plain = ListenOn(server, *config.plain_listen, {});
    if (!plain.ok()) {
      MLOG(Error) << "[server] plain_listen: " << plain.status().ToString();
      return 1;
    }
    MLOG(Info) << "plain HTTP also served at " << *plain;
  }
  if (admin_server) {
    Result<std::string> admin = ListenOn(*admin_server, *config.admin_listen, {});
    if (!admin.ok()) {
      MLOG(Error) << "[admin] listen: " << admin.status().ToString();
      return 1;
    }
    MLOG(Info) << "admin API served at " << *admin;
  }
  std::function<void(const boost::system::error_code&, int)> on_usr1 =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (access_log) access_log->Reopen();
        usr1.async_wait(on_usr1);
      };
  usr1.async_wait(on_usr1);
  systemd.Ready(metrics.StatusLine());
  if (auto interval = systemd.StartWatchdog(); interval.count() > 0) {
    MLOG(Info) << "systemd watchdog: pinging every " << interval.count() / 2000 << " ms";
  }
  systemd.StartStatusUpdates([&metrics] { return metrics.StatusLine(); }, std::chrono::seconds(10));
  // A reload reads files and reconciles the catalog: on the blocking pool, one at a time,
  // never on a network thread. A refused config leaves everything as it was.
  std::mutex reload_mu;
  auto reload = [&] {
    std::lock_guard lock(reload_mu);
    const std::string origin = config_file.empty() ? "the embedded defaults" : config_file.string();
    Result<LoadedConfig> next = LoadDaemonConfig(config_file);
    Result<std::string> next_token = next.ok()
                                         ? LoadOrCreateAdminToken(next->config->admin_token_file)
                                         : Result<std::string>(next.status());
    if (!next_token.ok()) {
      MLOG(Error) << "reload refused, keeping the running configuration: "
                  << (next.ok() ? next_token.status().WithContext("[admin] token_file")
                                : next.status())
                         .message();
      return;
    }
    std::vector<std::string> not_applied;
    auto applied = std::make_shared<const Config>(
        KeepRestartOnlySettings(*live.Get(), *next->config, &not_applied));
    for (const std::string& line : not_applied) {
      MLOG(Warning) << "reload: " << line << " takes a restart; keeping the running value";
    }
    live.Set(applied);
    if (tls) {
      if (Status s = tls->Reload(applied->tls_cert, applied->tls_key); !s.ok()) {
        MLOG(Error) << "reload: TLS certificate not replaced, keeping the running one: "
                    << s.message();
      }
    }
    SetMinLogLevel(applied->log_level);
    github_webhooks->SetSecret(next->webhook_secret);
    admin_api.SetToken(*next_token);
    build_api->SetToken(*next_token);
    images_api->SetToken(*next_token);
    image_archive->SetToken(*next_token);
    backup_api->SetToken(*next_token);
    gc_api->SetToken(*next_token);
    verify_api->SetToken(*next_token);
    push_api->SetToken(*next_token);
    tokens_api->SetToken(*next_token);
    Result<ReconcileReport> report = scheduler.Reconcile(*applied);
    if (!report.ok()) {
      MLOG(Error) << "reload: [[repos]] not reconciled: " << report.status().ToString();
    }
    // Tests and scripts wait for this line.
    MLOG(Info) << "configuration reloaded from " << origin << ": "
               << (report.ok() ? report->Summary(applied->repos.size()) : "repos unchanged");
  };
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        MLOG(Info) << "received SIGHUP: reloading the configuration";
        boost::asio::post(blocking_pool, reload);
        hangups.async_wait(on_hangup);
      };
  hangups.async_wait(on_hangup);

  // Two network threads: one io_context, a strand per connection.
  std::thread second([&io] { io.run(); });
  io.run();
  second.join();
  poller.Stop();
  gc.Stop();
  verify.Stop();
  // Running syncs are cancelled; what they fetched stays in staging for the next sync.
  scheduler.Shutdown();
  blocking_pool.join();
  lfs_fetch_pool.join();
  MLOG(Info) << "mirrord stopped";
  return 0;
}

}  // namespace
}  // namespace mirrord

int main(int argc, char** argv) {
  using namespace mirrord;
  CLI::App app{"mirrord: mirrors model repositories and serves them over git smart HTTP"};
  std::string config_file;
  bool check_only = false;
  app.add_option("-c,--config", config_file,
                 "TOML configuration file (default: embedded defaults)");
  app.add_flag("--check-config", check_only, "Validate the configuration and exit");
  app.set_version_flag("--version", std::string(kVersion));
  CLI11_PARSE(app, argc, argv);

  // The same checks as a start and a reload (daemon/config_reload.h).
  Result<LoadedConfig> config = LoadDaemonConfig(config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "mirrord: %s\n", config.status().message().c_str());
    return 2;
  }
  if (check_only) {
    std::printf("configuration OK\n");
    return 0;
  }
  // A SIGPIPE from a client that went away must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  return Run(config_file, *config);
}
