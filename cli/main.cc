// mirrorctl: the command-line client of mirrord's admin API.
//
// Adding a command: write cli/command_<name>.cc (declared in cli/commands.h), register its
// CLI::App below with its arguments, and add it to `dispatch` with RunWithClient. The global
// flags (--json, --server, --token, --config), "did you mean", --help's exit codes and the
// completion script cover it without further work.
#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/api_client.h"
#include "cli/cli_context.h"
#include "cli/commands.h"
#include "cli/completion.h"

namespace mirrord {
namespace {

constexpr char kEnvironmentHelp[] =
    "Environment:\n"
    "  MIRRORD_URL     mirrord's URL (--server wins)\n"
    "  MIRRORD_TOKEN   the admin token (--token wins; safer than --token, which other users\n"
    "                  can see in the process list)\n"
    "  MIRRORD_CONFIG  mirrord's config file (--config wins)\n"
    "  MIRRORD_CA_FILE a CA certificate (PEM) to trust beside the system store for an\n"
    "                  https:// server (--cacert wins)\n";

// The first word of argv that is not a flag or a global flag's value: what the user meant
// as the command; "" when there is none.
std::string CommandWord(int argc, char** argv, const std::vector<std::string>& value_flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (a.starts_with("-")) {
      if (a.find('=') == std::string_view::npos) {
        for (const std::string& f : value_flags) {
          if (a == f) {
            ++i;
            break;
          }
        }
      }
      continue;
    }
    return std::string(a);
  }
  return "";
}

int Main(int argc, char** argv) {
  CLI::App app{"mirrorctl: manage the repositories mirrored by mirrord", "mirrorctl"};
  app.require_subcommand(0, 1);
  app.fallthrough();  // global options may also follow the command name
  app.footer(std::string("\n") + ExitCodesHelp() + "\n" + kEnvironmentHelp);

  CliFlags flags;
  bool json = false;
  bool show_version = false;
  app.add_option("--config", flags.config_file,
                 "mirrord's config file (default: $MIRRORD_CONFIG, else " +
                     std::string(kDefaultConfigPath) + " if it exists, else built-in defaults)")
      ->type_name("FILE");
  app.add_option("--server", flags.server_url,
                 "mirrord's URL, or unix:/PATH for the admin API's Unix socket (default: "
                 "$MIRRORD_URL, else the config's [admin] listen, else its [server] listen)")
      ->type_name("URL");
  app.add_option("--cacert", flags.ca_file,
                 "a CA certificate (PEM) to trust beside the system store, for an https:// "
                 "server signed by a lab's own CA (default: $MIRRORD_CA_FILE)")
      ->type_name("FILE");
  app.add_option("--token", flags.token,
                 "the admin token (default: $MIRRORD_TOKEN, else the config's [admin] "
                 "token_file)")
      ->type_name("TOKEN");
  app.add_flag("--json", json,
               "print one JSON document on stdout (field names: README, \"mirrorctl --json\")");
  app.add_flag("--version", show_version, "print mirrorctl's version and exit");

  SyncArgs sync;
  CLI::App* sync_cmd = app.add_subcommand(
      "sync",
      "Mirror NAME now and show progress; a new NAME is added from GitHub (hf/OWNER/NAME: "
      "from Hugging Face) unless a source is given");
  sync_cmd->add_option("name", sync.name, "local repo name, e.g. THUDM/GLM-4")->required();
  CLI::Option* upstream =
      sync_cmd->add_option("--upstream", sync.upstream, "configured upstream, e.g. github, hf")
          ->type_name("UPSTREAM");
  CLI::Option* path = sync_cmd
                          ->add_option("--path", sync.path,
                                       "the repo's path at the upstream (default: NAME, less "
                                       "a leading \"UPSTREAM/\")")
                          ->type_name("PATH")
                          ->needs(upstream);
  sync_cmd->add_option("--url", sync.url, "explicit clone URL")
      ->type_name("URL")
      ->excludes(upstream)
      ->excludes(path);
  sync_cmd->add_flag("--no-follow", sync.no_follow,
                     "queue the sync and return instead of showing its progress (a new name "
                     "is then kept even if the upstream has no such repository)");

  CLI::App* list_cmd = app.add_subcommand("list", "List mirrored repositories");

  StatusArgs status;
  CLI::App* status_cmd =
      app.add_subcommand("status", "Show the state of one repository, or of all of them");
  status_cmd->add_option("name", status.name, "local repo name (default: all)");

  CLI::App* queue_cmd =
      app.add_subcommand("queue", "Show queued and running syncs, and paused upstream hosts");

  BuildArgs build;
  CLI::App* build_cmd = app.add_subcommand(
      "build", "Build the image of a [[builds]] recipe now and show progress until it is served");
  build_cmd->add_option("name", build.name, "the recipe's name, e.g. lab/glm-4")->required();
  build_cmd->add_option("--ref", build.ref, "full ref name (default: the default branch)")
      ->type_name("REF");
  build_cmd->add_flag("--no-follow", build.no_follow,
                      "queue the build and return instead of showing its progress");

  ImagesArgs images;
  CLI::App* images_cmd = app.add_subcommand(
      "images", "List built images with the docker pull / docker run lines to use them");
  images_cmd->add_option("name", images.name, "image name, a [[builds]] name (default: all)");

  ImageExportArgs image_export;
  CLI::App* image_cmd = app.add_subcommand("image", "Work with one built image (export)");
  image_cmd->require_subcommand(1);
  CLI::App* image_export_cmd = image_cmd->add_subcommand(
      "export",
      "Write an image as an OCI archive (skopeo oci-archive:, docker load) for an "
      "air-gapped host");
  image_export_cmd->add_option("ref", image_export.ref, "NAME:TAG, e.g. lab/glm-4:main")
      ->required();
  image_export_cmd->add_option("-o,--output", image_export.output, "the archive (- for stdout)")
      ->required()
      ->type_name("FILE");

  BackupArgs backup;
  CLI::App* backup_cmd = app.add_subcommand(
      "backup",
      "Write a consistent backup (catalog, mirrors, LFS and image stores) into DIR on "
      "mirrord's host; restore: see README");
  backup_cmd->add_option("dir", backup.dir, "an empty or new directory")->required();
  TokenArgs token_args;
  CLI::App* token_cmd =
      app.add_subcommand("token", "Create, list and revoke read tokens for private repositories");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand(
      "create", "Create a read token (printed once) granting read on repository globs");
  token_create->add_option("name", token_args.name, "the token's name, e.g. ci-runner")->required();
  token_create
      ->add_option("--repos", token_args.repos,
                   "repository globs it may read: * within a segment, ** across segments "
                   "(e.g. hf/org/* or lab/**)")
      ->required()
      ->type_name("GLOB...");
  CLI::App* token_list = token_cmd->add_subcommand("list", "List read tokens (never the tokens)");
  CLI::App* token_revoke = token_cmd->add_subcommand("revoke", "Revoke a read token at once");
  token_revoke->add_option("name", token_args.name, "the token's name")->required();

  PushArgs push;
  CLI::App* push_cmd = app.add_subcommand(
      "push", "Push a built image to a [registries] entry and show progress until it is there");
  push_cmd->add_option("image", push.image, "NAME:TAG, as `mirrorctl images` lists it")->required();
  push_cmd->add_option("registry", push.registry, "a [registries] name, e.g. lab")->required();
  push_cmd->add_flag("--no-follow", push.no_follow,
                     "queue the push and return instead of showing its progress");

  RemoveArgs remove;
  CLI::App* remove_cmd = app.add_subcommand(
      "remove", "Stop mirroring a repository and delete its mirror (asks first)");
  remove_cmd->add_option("name", remove.name, "local repo name")->required();
  remove_cmd->add_flag("-y,--yes", remove.yes, "do not ask (needed when not run from a terminal)");
  remove_cmd->add_flag("--purge", remove.purge,
                       "also delete at once its LFS objects no other repo or image references");

  GcArgs gc;
  CLI::App* gc_cmd = app.add_subcommand(
      "gc", "Delete LFS objects and git objects unreferenced for longer than the grace");
  gc_cmd->add_flag("--dry-run", gc.dry_run, "only print what would be deleted");
  gc_cmd->add_option("--grace", gc.grace, "e.g. 7d, 12h, 0 (default: [gc] grace)")
      ->type_name("DURATION");

  VerifyArgs verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "git fsck the mirror(s) and re-hash LFS objects; refetch corrupt ones");
  verify_cmd->add_option("name", verify.name, "local repo name (default: all, whole store)");

  std::string shell;
  CLI::App* completion_cmd = app.add_subcommand(
      "completion",
      "Print a shell completion script: mirrorctl completion bash > "
      "/etc/bash_completion.d/mirrorctl (zsh: autoload bashcompinit && bashcompinit first)");
  completion_cmd->add_option("shell", shell, "bash (zsh through bashcompinit)")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

  std::vector<std::string> commands;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
    sub->footer(
        "\nGlobal options (before or after the command; see mirrorctl --help): --json, "
        "--server URL, --token TOKEN, --config FILE");
  }
  const std::string word = CommandWord(argc, argv, {"--config", "--server", "--token", "--cacert"});
  if (word == "help") {
    std::cout << app.help();
    return kExitOk;
  }
  if (!word.empty() && std::find(commands.begin(), commands.end(), word) == commands.end()) {
    std::cerr << "mirrorctl: unknown command \"" << word << "\"";
    if (std::string guess = SuggestCommand(word, commands); !guess.empty()) {
      std::cerr << "; did you mean \"" << guess << "\"?";
    }
    std::cerr << "\nRun 'mirrorctl --help' for the commands.\n";
    return kExitUsage;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  CommandIo io{std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1};
  io.json = json;
  io.in = &std::cin;
  io.in_is_tty = ::isatty(STDIN_FILENO) == 1;
  io.err_is_tty = ::isatty(STDERR_FILENO) == 1;

  if (show_version) {
    if (io.json) return PrintJson(io, boost::json::object{{"version", MirrorctlVersion()}});
    io.out << "mirrorctl " << MirrorctlVersion() << "\n";
    return kExitOk;
  }
  if (*completion_cmd) {
    io.out << BashCompletionScript(app);
    return kExitOk;
  }

  if (*token_create) token_args.action = "create";
  if (*token_list) token_args.action = "list";
  if (*token_revoke) token_args.action = "revoke";
  if (*remove_cmd) {
    if (std::optional<int> refused = RefuseUnconfirmableRemove(remove, io)) return *refused;
  }
  const std::vector<std::pair<CLI::App*, std::function<int(ApiClient&)>>> dispatch = {
      {sync_cmd, [&](ApiClient& c) { return RunSyncCommand(c, sync, io); }},
      {list_cmd, [&](ApiClient& c) { return RunListCommand(c, io); }},
      {status_cmd, [&](ApiClient& c) { return RunStatusCommand(c, status, io); }},
      {queue_cmd, [&](ApiClient& c) { return RunQueueCommand(c, io); }},
      {build_cmd, [&](ApiClient& c) { return RunBuildCommand(c, build, io); }},
      {images_cmd, [&](ApiClient& c) { return RunImagesCommand(c, images, io); }},
      {backup_cmd, [&](ApiClient& c) { return RunBackupCommand(c, backup, io); }},
      {image_export_cmd, [&](ApiClient& c) { return RunImageExportCommand(c, image_export, io); }},
      {push_cmd, [&](ApiClient& c) { return RunPushCommand(c, push, io); }},
      {remove_cmd, [&](ApiClient& c) { return RunRemoveCommand(c, remove, io); }},
      {gc_cmd, [&](ApiClient& c) { return RunGcCommand(c, gc, io); }},
      {verify_cmd, [&](ApiClient& c) { return RunVerifyCommand(c, verify, io); }},
      {token_cmd, [&](ApiClient& c) { return RunTokenCommand(c, token_args, io); }},
  };
  for (const auto& [cmd, run] : dispatch) {
    if (*cmd) return RunWithClient(flags, io, run);
  }
  std::cerr << app.help();
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
