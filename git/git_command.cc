#include "git/git_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "common/file_util.h"

extern char** environ;

namespace mirrord {
namespace {

constexpr size_t kMaxStderr = 4096;

// posix_spawn file actions and attributes, destroyed on scope exit.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attr() { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

std::string Describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

}  // namespace

Status RunGitCommand(const std::vector<std::string>& argv, std::string_view stdin_data,
                     std::string* stdout_text) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  UniqueFd stdin_read;
  UniqueFd stdin_write;
  if (!stdin_data.empty()) {
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
    stdin_read.reset(in[0]);
    stdin_write.reset(in[1]);
  }

  SpawnSetup setup;
  if (stdin_read.valid()) {
    posix_spawn_file_actions_adddup2(setup.actions(), stdin_read.get(), 0);
  } else {
    posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null", O_RDONLY, 0);
  }
  // Captured stdout goes to an anonymous memory file read back after the exit: no second
  // pipe to drain beside stderr.
  UniqueFd stdout_file;
  if (stdout_text != nullptr) {
    stdout_file.reset(::memfd_create("git-stdout", MFD_CLOEXEC));
    if (!stdout_file.valid()) return ErrnoStatus(errno, "memfd_create");
    posix_spawn_file_actions_adddup2(setup.actions(), stdout_file.get(), 1);
  } else {
    posix_spawn_file_actions_addopen(setup.actions(), 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(setup.actions(), write_end.get(), 2);
  // Children get default signal handling and an empty mask whatever this thread has.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(setup.attr(), &empty);
  posix_spawnattr_setsigdefault(setup.attr(), &defaults);
  posix_spawnattr_setflags(setup.attr(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("LC_ALL=")) continue;
    env_storage.emplace_back(*e);
  }
  env_storage.emplace_back("LC_ALL=C");
  std::vector<char*> envp;
  envp.reserve(env_storage.size() + 1);
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  argp.reserve(args.size() + 1);
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argp[0], setup.actions(), setup.attr(), argp.data(), envp.data());
  if (rc != 0) {
    if (rc == ENOENT) return NotFound("cannot run " + argv[0] + ": not found in PATH");
    return ErrnoStatus(rc, "spawn " + argv[0]);
  }
  write_end.reset();  // EOF on read_end once the child exits
  stdin_read.reset();
  // Feed stdin from a thread so a child writing stderr before reading all input can't
  // deadlock against us. SIGPIPE is ignored by mirrord; a child exiting early gives EPIPE.
  std::thread feeder;
  if (stdin_write.valid()) {
    feeder = std::thread([fd = std::move(stdin_write), stdin_data]() mutable {
      (void)WriteAll(fd.get(), stdin_data);
      fd.reset();
    });
  }

  std::string err;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    err.append(buf, static_cast<size_t>(n));
    if (err.size() > 2 * kMaxStderr) err.erase(0, err.size() - kMaxStderr);
  }
  if (feeder.joinable()) feeder.join();
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid " + argv[0]);
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
    if (stdout_text != nullptr) {
      stdout_text->clear();
      off_t offset = 0;
      while (stdout_text->size() < kMaxGitStdout) {
        ssize_t n = ::pread(stdout_file.get(), buf,
                            std::min(sizeof buf, kMaxGitStdout - stdout_text->size()), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoStatus(errno, "read the output of " + argv[0]);
        if (n == 0) break;
        stdout_text->append(buf, static_cast<size_t>(n));
        offset += n;
      }
    }
    return Status::Ok();
  }

  if (err.size() > kMaxStderr) err.erase(0, err.size() - kMaxStderr);
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  std::string how = WIFEXITED(wstatus) ? "exit " + std::to_string(WEXITSTATUS(wstatus))
                                       : "signal " + std::to_string(WTERMSIG(wstatus));
  std::string message = Describe(argv) + " failed (" + how + ")" + (err.empty() ? "" : ": " + err);
  if (err.find("No space left on device") != std::string::npos ||
      err.find("Disk quota exceeded") != std::string::npos) {
    return ResourceExhausted(message);
  }
  return Internal(message);
}

}  // namespace mirrord
