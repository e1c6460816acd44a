// mirrord under a service manager: systemd's notify protocol (READY=1, STATUS=, WATCHDOG=1
// from the event loop, STOPPING=1) seen by a listener on $NOTIFY_SOCKET, SIGHUP (systemctl
// reload) never killing the daemon, and journald priority prefixes when stderr is the
// journal's stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>

#include "common/file_util.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;

// A datagram socket standing in for systemd's notify socket.
class NotifyListener {
 public:
  static Result<NotifyListener> Bind(const std::filesystem::path& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return ErrnoStatus(errno, "socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof addr.sun_path) return InvalidArgument("path too long");
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoStatus(errno, "bind");
    }
    timeval tv{0, 200'000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return NotifyListener(std::move(fd));
  }

  // Reads datagrams until one contains `needle` (returned) or `timeout` passes.
  Result<std::string> WaitFor(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[4096];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) continue;  // the receive timeout: look at the deadline again
      std::string message(buf, static_cast<size_t>(n));
      received_ += message + "\n--\n";
      if (message.find(needle) != std::string::npos) return message;
    }
    return DeadlineExceeded("no notification containing \"" + std::string(needle) +
                            "\"; received:\n" + received_);
  }

 private:
  explicit NotifyListener(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::string received_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("service-"));
    dir_.emplace(std::move(dir));
  }
  std::optional<TempDir> dir_;
};

TEST_F(ServiceTest, NotifiesReadinessStatusWatchdogAndStopping) {
  ASSERT_OK_AND_ASSIGN(NotifyListener listener, NotifyListener::Bind(dir_->path() / "notify"));
  MirrordOptions options;
  options.env = {{"NOTIFY_SOCKET", (dir_->path() / "notify").string()},
                 {"WATCHDOG_USEC", "1000000"}};
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start(options));

  ASSERT_OK_AND_ASSIGN(std::string ready, listener.WaitFor("READY=1", std::chrono::seconds(30)));
  EXPECT_THAT(ready, HasSubstr("STATUS=0 repos, 0 syncing"));
  // Pings come from the event loop every half interval; two in a row show a timer, not a
  // one-off at start.
  ASSERT_OK(listener.WaitFor("WATCHDOG=1", std::chrono::seconds(30)).status());
  ASSERT_OK(listener.WaitFor("WATCHDOG=1", std::chrono::seconds(30)).status());
  EXPECT_THAT(mirrord->Logs(), HasSubstr("systemd watchdog: pinging every 500 ms"));

  ASSERT_OK(mirrord->process()->Kill(SIGTERM));
  ASSERT_OK(listener.WaitFor("STOPPING=1", std::chrono::seconds(30)).status());
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, mirrord->process()->Wait(std::chrono::seconds(30)));
  EXPECT_TRUE(exit.exited_ok()) << exit.ToString();
}

TEST_F(ServiceTest, WithoutNotifySocketNothingIsSent) {
  MirrordOptions options;
  options.env = {{"WATCHDOG_USEC", "1000000"}};
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start(options));
  EXPECT_THAT(mirrord->Logs(), ::testing::Not(HasSubstr("systemd watchdog")));
}

TEST_F(ServiceTest, SighupKeepsServing) {
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start());
  for (int i = 0; i < 2; ++i) {  // the handler re-arms: a second reload is survived too
    size_t from = mirrord->process()->StderrLineCount();
    ASSERT_OK(mirrord->process()->Kill(SIGHUP));
    ASSERT_OK(mirrord->process()
                  ->WaitForLineContaining("received SIGHUP", std::chrono::seconds(30), from)
                  .status());
  }
  ASSERT_OK_AND_ASSIGN(HttpReply reply, HttpFetch(mirrord->BaseUrl() + "/healthz"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(mirrord->process()->TryWait().has_value()) << "mirrord exited on SIGHUP";
}

TEST_F(ServiceTest, JournalStreamGetsPriorityPrefixes) {
  // systemd sets JOURNAL_STREAM to the device:inode of the stream it connects to stderr;
  // the wrapper does the same for the pipe the test reads.
  std::filesystem::path wrapper = dir_->path() / "journald-like";
  std::ofstream(wrapper) << "#!/bin/sh\nJOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "
                         << MirrordProcess::DefaultMirrordBinary().string() << " \"$@\"\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  MirrordOptions options;
  options.mirrord_binary = wrapper;
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start(options));
  std::string logs = mirrord->Logs();
  EXPECT_THAT(logs, HasSubstr("<6>mirrord "));
  EXPECT_THAT(logs, HasSubstr(" listening on http://"));
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("INFO  mirrord")));
}

}  // namespace
}  // namespace mirrord::test
