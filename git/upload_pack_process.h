// UploadPackProcess: one `git upload-pack --stateless-rpc` child serving a bare mirror over
// smart HTTP. The child runs without a shell, in its own process group, with a minimal
// environment (no inherited secrets) and only its three pipes open; the parent gets the
// pipe ends as non-blocking, close-on-exec descriptors it can hand to an event loop.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "common/status.h"

namespace mirrord {

// True if `value` (a client's Git-Protocol header) may be passed to git as GIT_PROTOCOL:
// non-empty, at most 256 bytes, only [A-Za-z0-9=:._-] (e.g. "version=2").
bool IsSafeGitProtocol(std::string_view value);

// True if a Git-Protocol value asks for protocol version 2 ("version=2" among its
// colon-separated key=value pairs).
bool RequestsGitProtocolV2(std::string_view value);

struct UploadPackOptions {
  std::filesystem::path repo_dir;   // the bare repository to serve
  bool advertise_refs = false;      // --advertise-refs (the info/refs request)
  std::string git_protocol;         // GIT_PROTOCOL; ignored unless IsSafeGitProtocol
  std::filesystem::path home;       // HOME for git; empty: "/nonexistent"
  std::string git_binary = "git";   // looked up in PATH when it has no '/'
  std::vector<std::string> config;  // "key=value" pairs passed as `git -c`
};

// How a child ended, from waitpid's status word.
struct ExitStatus {
  int wait_status = 0;

  bool success() const;
  // "exit code 128", "killed by signal 9".
  std::string ToString() const;
};

// Owns a spawned child process. Destroying an unreaped child kills its process group and
// reaps it (blocking, but only for a process already sent SIGKILL). Not copyable; movable.
// Thread-safety: one owner at a time; methods are not synchronised.
class UploadPackProcess {
 public:
  // Starts `git [-c k=v]... upload-pack --strict --stateless-rpc [--advertise-refs] DIR`.
  // Environment: PATH (the parent's, or a default), HOME, GIT_CONFIG_NOSYSTEM=1,
  // GIT_PROTOCOL (when safe), LC_ALL=C. Fails with Internal/errno status if pipes or
  // posix_spawnp fail (e.g. git is not installed: NotFound).
  static Result<UploadPackProcess> Spawn(const UploadPackOptions& options);
  // Starts `git [-c k=v]... ARGS...` the same way (environment, pipes, process group) for
  // another read-only command on a mirror, e.g. {"--git-dir=DIR", "cat-file", "blob", OID};
  // `advertise_refs` and `repo_dir` of `options` are not used.
  static Result<UploadPackProcess> SpawnGit(const UploadPackOptions& options,
                                            const std::vector<std::string>& git_args);

  UploadPackProcess(UploadPackProcess&& other) noexcept;
  UploadPackProcess& operator=(UploadPackProcess&& other) noexcept;
  UploadPackProcess(const UploadPackProcess&) = delete;
  UploadPackProcess& operator=(const UploadPackProcess&) = delete;
  ~UploadPackProcess();

  pid_t pid() const { return pid_; }
  bool reaped() const { return exit_status_.has_value(); }

  // The parent's pipe ends (non-blocking, close-on-exec). Each can be taken once.
  UniqueFd TakeStdin() { return std::move(stdin_); }
  UniqueFd TakeStdout() { return std::move(stdout_); }
  UniqueFd TakeStderr() { return std::move(stderr_); }

  // Sends `signal` to the child's process group (git's own helpers, e.g. pack-objects,
  // included). No-op once reaped.
  void Kill(int signal);

  // Non-blocking reap: the exit status once the child has exited, nullopt while it runs.
  std::optional<ExitStatus> TryWait();

  // Blocking reap. Must not be called on a network thread unless the child was killed.
  ExitStatus Wait();

 private:
  UploadPackProcess() = default;
  void KillAndReap();

  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_status_;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
};

}  // namespace mirrord
