#include "git/upload_pack_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

namespace mirrord {
namespace {

constexpr size_t kMaxGitProtocolLength = 256;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

bool IsGitProtocolChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' ||
         c == ':' || c == '.' || c == '_' || c == '-';
}

// A pipe whose two ends are close-on-exec; the child's end becomes a standard descriptor
// through dup2 (which clears close-on-exec on the copy only).
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Status SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoStatus(errno, "fcntl(O_NONBLOCK)");
  }
  return Status::Ok();
}

// posix_spawn attribute and file-action objects with destructors.
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

struct SpawnFileActions {
  posix_spawn_file_actions_t actions;
  SpawnFileActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnFileActions() { posix_spawn_file_actions_destroy(&actions); }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
};

}  // namespace

bool IsSafeGitProtocol(std::string_view value) {
  if (value.empty() || value.size() > kMaxGitProtocolLength) return false;
  for (char c : value) {
    if (!IsGitProtocolChar(c)) return false;
  }
  return true;
}

bool RequestsGitProtocolV2(std::string_view value) {
  while (!value.empty()) {
    size_t colon = value.find(':');
    std::string_view item = value.substr(0, colon);
    if (item == "version=2") return true;
    if (colon == std::string_view::npos) break;
    value.remove_prefix(colon + 1);
  }
  return false;
}

bool ExitStatus::success() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }

std::string ExitStatus::ToString() const {
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "wait status " + std::to_string(wait_status);
}

Result<UploadPackProcess> UploadPackProcess::Spawn(const UploadPackOptions& options) {
  std::vector<std::string> args = {"upload-pack", "--strict", "--stateless-rpc"};
  if (options.advertise_refs) args.push_back("--advertise-refs");
  args.push_back(options.repo_dir.string());
  return SpawnGit(options, args);
}

Result<UploadPackProcess> UploadPackProcess::SpawnGit(const UploadPackOptions& options,
                                                      const std::vector<std::string>& git_args) {
  ASSIGN_OR_RETURN(Pipe in, MakePipe());
  ASSIGN_OR_RETURN(Pipe out, MakePipe());
  ASSIGN_OR_RETURN(Pipe err, MakePipe());
  RETURN_IF_ERROR(SetNonBlocking(in.write.get()));
  RETURN_IF_ERROR(SetNonBlocking(out.read.get()));
  RETURN_IF_ERROR(SetNonBlocking(err.read.get()));

  std::vector<std::string> args = {options.git_binary};
  for (const std::string& kv : options.config) {
    args.push_back("-c");
    args.push_back(kv);
  }
  args.insert(args.end(), git_args.begin(), git_args.end());

  const char* parent_path = std::getenv("PATH");
  std::vector<std::string> env = {
      std::string("PATH=") + (parent_path != nullptr && *parent_path ? parent_path : kDefaultPath),
      "HOME=" + (options.home.empty() ? std::string("/nonexistent") : options.home.string()),
      "GIT_CONFIG_NOSYSTEM=1",
      "LC_ALL=C",
  };
  if (IsSafeGitProtocol(options.git_protocol))
    env.push_back("GIT_PROTOCOL=" + options.git_protocol);

  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  SpawnFileActions fa;
  posix_spawn_file_actions_adddup2(&fa.actions, in.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa.actions, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa.actions, err.write.get(), STDERR_FILENO);
  // Descriptors the daemon opened without close-on-exec (client sockets among them) must
  // not leak into git: a leaked socket would keep a client's connection open.
  posix_spawn_file_actions_addclosefrom_np(&fa.actions, 3);

  SpawnAttr sa;
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigmask(&sa.attr, &empty_mask);
  // The daemon ignores SIGPIPE; git must not inherit that.
  sigset_t defaults;
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);
  // Its own process group, so that Kill() also reaches git's helpers (pack-objects).
  posix_spawnattr_setpgroup(&sa.attr, 0);
  posix_spawnattr_setflags(&sa.attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &fa.actions, &sa.attr, argv.data(), envp.data());
  if (rc != 0) {
    return ErrnoStatus(rc, "spawning " + options.git_binary + " " +
                               (git_args.empty() ? std::string() : git_args.front()));
  }

  UploadPackProcess p;
  p.pid_ = pid;
  p.stdin_ = std::move(in.write);
  p.stdout_ = std::move(out.read);
  p.stderr_ = std::move(err.read);
  return p;  // the child's pipe ends close here, so EOFs propagate
}

UploadPackProcess::UploadPackProcess(UploadPackProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_status_(std::exchange(other.exit_status_, std::nullopt)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

UploadPackProcess& UploadPackProcess::operator=(UploadPackProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = std::exchange(other.exit_status_, std::nullopt);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
  }
  return *this;
}

UploadPackProcess::~UploadPackProcess() { KillAndReap(); }

void UploadPackProcess::KillAndReap() {
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  if (pid_ <= 0 || exit_status_.has_value()) return;
  Kill(SIGKILL);
  (void)Wait();
}

void UploadPackProcess::Kill(int signal) {
  if (pid_ <= 0 || exit_status_.has_value()) return;
  // The group id is the child's pid (setpgroup 0). The child's group exists from the
  // moment posix_spawn returns, so this never hits an unrelated process group.
  if (::kill(-pid_, signal) != 0) ::kill(pid_, signal);
}

std::optional<ExitStatus> UploadPackProcess::TryWait() {
  if (exit_status_.has_value()) return exit_status_;
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = ExitStatus{status};
  } else if (r < 0) {
    // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN); nothing left to wait for.
    exit_status_ = ExitStatus{W_EXITCODE(127, 0)};
  }
  return exit_status_;
}

ExitStatus UploadPackProcess::Wait() {
  if (exit_status_.has_value()) return *exit_status_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  exit_status_ = ExitStatus{r == pid_ ? status : W_EXITCODE(127, 0)};
  return *exit_status_;
}

}  // namespace mirrord
