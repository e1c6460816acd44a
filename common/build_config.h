// Build recipes and registries in the config: `[[builds]]` (what image to make from which
// mirrored repo) and `[registries.NAME]` (where bases come from and images go). Parsed from
// the config's TOML by ParseBuildConfig, which common/config.cc calls for the whole file.
//
//   [[builds]]  name = "glm-4v"                 image repository (distribution name grammar)
//               repo = "THUDM/glm-4v-9b"        a [[repos]] name
//               refs = ["refs/heads/main", "refs/tags/*"]  globs; default HEAD's branch + tags
//               include = [...], exclude = [...]            tree path globs (git-lfs rules)
//               model_dir = "/models/THUDM/glm-4v-9b"       default /models/<repo>
//               base = "scratch" | "REGISTRY/NAME:TAG" | "REGISTRY/NAME@sha256:..."
//               entrypoint = [...], cmd = [...], env = { K = "V" }, ports = ["8000/tcp"],
//               workdir = "/", user = "0:0", labels = { k = "v" },
//               require_cuda = ">=12.1", nvidia_visible_devices = "all",
//               nvidia_driver_capabilities = "compute,utility",
//               preflight = true, gpu_count = 1, min_gpu_memory = 0   (bytes; 0: weights+20%)
//               shm_size = "16g"   (docker run --shm-size that `mirrorctl images` prints)
//               tags = ["{ref}", "{commit}"], keep = 3, push = ["REGISTRY"]
//     push: after each successful build the image and its model artifact are pushed to each
//       named [registries] entry (a durable push job). A plain name pushes to repository =
//       the image's name with the image's own tags (the model artifact's: its own "-model"
//       tags). A table maps them: { registry = "lab", repository = "models/{name}",
//       tags = ["{commit}", "latest"] } ({name}: the image name; tags are templates with
//       {ref} and {commit} like `tags`; the model artifact gets each with "-model"). The
//       table form may also be written as [[builds.push]] entries. One entry per registry.
//   [[builds.files]] source = "/opt/bin/serve", dest = "/usr/local/bin/serve",
//                    mode = "0755", sha256 = "<64 hex>"
//   [registries.NAME] url = "https://registry.lab:5000", username = "...",
//                     password_file = "...", token_file = "...", ca_file = "...",
//                     insecure = false
//     url: https://HOST[:PORT]; http:// only with insecure = true (which also accepts an
//       unverified TLS certificate). Credentials: username + password_file (HTTP Basic, and
//       for a registry's Bearer token flow), or token_file (a bearer token sent as is), or
//       none (anonymous). The secret files are read when a push starts (a rotated secret
//       applies to the next push without a reload), checked readable by --check-config, a
//       start and a reload, and never logged. ca_file: an extra CA bundle (PEM) to trust.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

// An extra file put into the image (e.g. the inference binary), pinned by its SHA-256.
struct BuildFile {
  std::filesystem::path source;  // absolute path on the build host
  std::string dest;              // absolute path in the image
  uint32_t mode = 0644;
  std::string sha256;  // 64 lowercase hex: the build refuses a source with other content
};

// One `push` entry of a recipe: a [registries] name and how the image is named there.
struct PushTarget {
  std::string registry;
  std::string repository = "{name}";  // template; {name} is the image's name
  std::vector<std::string> tags;      // tag templates ({ref}, {commit}); empty: the image's tags

  // `repository` for image `name`.
  std::string RepositoryFor(std::string_view name) const;
  bool operator==(const PushTarget&) const = default;
};

struct BuildRecipe {
  std::string name;               // image repository name (distribution grammar, lowercase)
  std::string repo;               // a mirrored repo
  std::vector<std::string> refs;  // globs over full ref names; empty: default branch + tags
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string model_dir;  // absolute; "" -> "/models/<repo>"
  std::string base = "scratch";
  std::vector<BuildFile> files;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> env;
  std::vector<std::string> ports;  // "8000/tcp", "8000" (tcp), "53/udp"
  std::string workdir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::string require_cuda;  // e.g. ">=12.1" -> NVIDIA_REQUIRE_CUDA=cuda>=12.1
  std::string nvidia_visible_devices = "all";
  std::string nvidia_driver_capabilities = "compute,utility";
  // mirrord-preflight as the entrypoint wrapper (deploy/preflight_layers.h): unset -> on for
  // GPU images (nvidia_visible_devices other than "", "none", "void").
  std::optional<bool> preflight;
  int gpu_count = 1;            // GPUs the model needs (preflight)
  uint64_t min_gpu_memory = 0;  // bytes of free GPU memory it needs; 0: weights + 20%
  // --shm-size of the `docker run` line `mirrorctl images` prints for GPU images ("": none).
  std::string shm_size = "16g";
  std::vector<std::string> tags = {"{ref}", "{commit}"};
  int keep = 3;                  // images kept per ref
  std::vector<PushTarget> push;  // where each built image goes (one per registry)

  // Whether images of this recipe start through the preflight.
  bool PreflightEnabled() const {
    if (preflight.has_value()) return *preflight;
    return !nvidia_visible_devices.empty() && nvidia_visible_devices != "none" &&
           nvidia_visible_devices != "void";
  }
  // model_dir with its default applied.
  std::string ModelDir() const { return model_dir.empty() ? "/models/" + repo : model_dir; }
};

struct RegistryConfig {
  std::string name;
  std::string url;  // "https://host[:port]" or "http://..." (plain HTTP needs insecure)
  std::string username;
  std::filesystem::path password_file;
  std::filesystem::path token_file;
  std::filesystem::path ca_file;
  bool insecure = false;  // plain HTTP or unverified TLS
};

// True when `name` matches the distribution spec's repository name grammar:
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, at most 255 bytes.
bool IsValidImageName(std::string_view name);
// True for a tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool IsValidImageTag(std::string_view tag);

// Reads `[[builds]]` and `[registries.*]` from `root`. `repo_names` are the mirrored repos a
// recipe may name. On failure the one-line Status names the file, the entry and the key,
// e.g. "mirrord.toml: [builds #2] name: \"GLM\" is not a valid image name (lowercase ...)".
// Unknown keys are errors. On success `builds` and `registries` hold the entries.
Status ParseBuildConfig(const toml::table& root, std::string_view origin,
                        const std::vector<std::string>& repo_names,
                        std::vector<BuildRecipe>* builds,
                        std::map<std::string, RegistryConfig>* registries);

}  // namespace mirrord
