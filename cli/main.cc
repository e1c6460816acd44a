// mirrorctl: the command-line client of mirrord's admin API.
#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/api_client.h"
#include "cli/cli_context.h"
#include "cli/commands.h"

namespace mirrord {
namespace {

// Runs `command` with a client for the resolved daemon, or reports why there is none.
template <typename Fn>
int WithClient(const CliFlags& flags, CommandIo& io, Fn command) {
  Result<CliContext> context = ResolveCliContext(flags, SystemEnvironment());
  if (!context.ok()) {
    io.err << "mirrorctl: " << context.error().message() << "\n";
    return kExitUsage;
  }
  Result<std::string> token = LoadAdminToken(*context);
  if (!token.ok()) {
    io.err << "mirrorctl: " << token.error().message() << "\n";
    return kExitUnreachable;
  }
  ApiClient client(context->server_url, std::move(*token), context->token_file);
  return command(client);
}

int Main(int argc, char** argv) {
  CLI::App app{"mirrorctl: manage the repositories mirrored by mirrord"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command name

  CliFlags flags;
  app.add_option("--config", flags.config_file,
                 "mirrord's config file (default: $MIRRORD_CONFIG, else " +
                     std::string(kDefaultConfigPath) + " if it exists, else built-in defaults)")
      ->type_name("FILE");
  app.add_option("--server", flags.server_url,
                 "mirrord's URL (default: $MIRRORD_URL, else the config's [server] listen)")
      ->type_name("URL");

  SyncArgs sync;
  CLI::App* sync_cmd = app.add_subcommand(
      "sync", "Mirror NAME now (adding it first when a source is given) and show progress");
  sync_cmd->add_option("name", sync.name, "local repo name, e.g. THUDM/GLM-4")->required();
  CLI::Option* upstream =
      sync_cmd->add_option("--upstream", sync.upstream, "configured upstream, e.g. github, hf")
          ->type_name("UPSTREAM");
  CLI::Option* path =
      sync_cmd->add_option("--path", sync.path, "the repo's path at the upstream (default: NAME)")
          ->type_name("PATH")
          ->needs(upstream);
  CLI::Option* url = sync_cmd->add_option("--url", sync.url, "explicit clone URL")
                         ->type_name("URL")
                         ->excludes(upstream)
                         ->excludes(path);
  (void)url;
  sync_cmd->add_flag("--no-follow", sync.no_follow,
                     "queue the sync and return instead of showing its progress");

  CLI::App* list_cmd = app.add_subcommand("list", "List mirrored repositories");

  StatusArgs status;
  CLI::App* status_cmd =
      app.add_subcommand("status", "Show the state of one repository, or of all of them");
  status_cmd->add_option("name", status.name, "local repo name (default: all)");
  status_cmd->add_flag("--json", status.json, "print the admin API's JSON");

  QueueArgs queue;
  CLI::App* queue_cmd =
      app.add_subcommand("queue", "Show queued and running syncs, and paused upstream hosts");
  queue_cmd->add_flag("--json", queue.json, "print the admin API's JSON");

  ImagesArgs images;
  CLI::App* images_cmd = app.add_subcommand(
      "images", "List built images with the docker pull / docker run lines to use them");
  images_cmd->add_option("name", images.name, "image name, a [[builds]] name (default: all)");
  images_cmd->add_flag("--json", images.json, "print the admin API's JSON");

  RemoveArgs remove;
  CLI::App* remove_cmd =
      app.add_subcommand("remove", "Stop mirroring a repository and delete its mirror");
  remove_cmd->add_option("name", remove.name, "local repo name")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  CommandIo io{std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1};
  if (*sync_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunSyncCommand(c, sync, io); });
  }
  if (*list_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunListCommand(c, io); });
  }
  if (*status_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunStatusCommand(c, status, io); });
  }
  if (*queue_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunQueueCommand(c, queue, io); });
  }
  if (*images_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunImagesCommand(c, images, io); });
  }
  if (*remove_cmd) {
    return WithClient(flags, io, [&](ApiClient& c) { return RunRemoveCommand(c, remove, io); });
  }
  return kExitUsage;
}

}  // namespace
}  // namespace mirrord

int main(int argc, char** argv) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::cerr << "mirrorctl: cannot initialise libcurl\n";
    return 1;
  }
  int rc = mirrord::Main(argc, argv);
  curl_global_cleanup();
  return rc;
}
