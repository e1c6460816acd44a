#include "git/upload_pack_process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace mirrord {
namespace {

namespace fs = std::filesystem;

// Reads `fd` (non-blocking) to EOF, waiting at most 10 s for each piece.
std::string ReadAll(int fd) {
  std::string out;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class UploadPackProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mirrord-upload-pack-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    repo_ = root_ / "repo.git";
    std::string cmd = "env -i PATH=/usr/bin:/bin GIT_CONFIG_NOSYSTEM=1 HOME=" + root_.string() +
                      " sh -c 'git init -q --bare -b main " + repo_.string() + " && git -C " +
                      root_.string() + " init -q -b main w && cd " + (root_ / "w").string() +
                      " && echo x > x && git add x && git -c user.name=t -c user.email=t@e"
                      " commit -qm x && git push -q " +
                      repo_.string() + " main'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path root_;
  fs::path repo_;
};

TEST(GitProtocolTest, SafeValues) {
  EXPECT_TRUE(IsSafeGitProtocol("version=2"));
  EXPECT_TRUE(IsSafeGitProtocol("version=2:object-format=sha256"));
  EXPECT_FALSE(IsSafeGitProtocol(""));
  EXPECT_FALSE(IsSafeGitProtocol("version=2 rm"));
  EXPECT_FALSE(IsSafeGitProtocol("version=2;x"));
  EXPECT_FALSE(IsSafeGitProtocol("version=2\n"));
  EXPECT_FALSE(IsSafeGitProtocol(std::string(300, 'a')));
  EXPECT_TRUE(RequestsGitProtocolV2("version=2"));
  EXPECT_TRUE(RequestsGitProtocolV2("foo=bar:version=2"));
  EXPECT_FALSE(RequestsGitProtocolV2("version=1"));
  EXPECT_FALSE(RequestsGitProtocolV2("version=20"));
  EXPECT_FALSE(RequestsGitProtocolV2(""));
}

TEST_F(UploadPackProcessTest, AdvertisesRefs) {
  UploadPackOptions options;
  options.repo_dir = repo_;
  options.advertise_refs = true;
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  p->TakeStdin().reset();
  UniqueFd out = p->TakeStdout();
  std::string adv = ReadAll(out.get());
  EXPECT_NE(adv.find(" refs/heads/main"), std::string::npos) << adv;
  EXPECT_TRUE(p->Wait().success());
  EXPECT_TRUE(p->reaped());
}

TEST_F(UploadPackProcessTest, ProtocolV2ThroughEnvironment) {
  UploadPackOptions options;
  options.repo_dir = repo_;
  options.advertise_refs = true;
  options.git_protocol = "version=2";
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_TRUE(p.ok());
  UniqueFd out = p->TakeStdout();
  EXPECT_EQ(ReadAll(out.get()).rfind("000eversion 2\n", 0), 0u);
  EXPECT_TRUE(p->Wait().success());
}

TEST_F(UploadPackProcessTest, MinimalEnvironmentAndNoLeakedDescriptors) {
  ::setenv("MIRRORD_TEST_SECRET", "hunter2", 1);
  // `sh -c CMD upload-pack ...`: the configured "-c" value becomes a shell command, which
  // lets the test look at what the child sees.
  UploadPackOptions options;
  options.repo_dir = repo_;
  options.git_binary = "sh";
  options.config = {"env; ls /proc/self/fd"};
  options.home = root_;
  options.git_protocol = "version=2";
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_TRUE(p.ok());
  UniqueFd out = p->TakeStdout();
  std::string seen = ReadAll(out.get());
  ::unsetenv("MIRRORD_TEST_SECRET");
  EXPECT_TRUE(p->Wait().success());
  EXPECT_EQ(seen.find("hunter2"), std::string::npos) << seen;
  EXPECT_NE(seen.find("GIT_CONFIG_NOSYSTEM=1"), std::string::npos) << seen;
  EXPECT_NE(seen.find("GIT_PROTOCOL=version=2"), std::string::npos) << seen;
  EXPECT_NE(seen.find("HOME=" + root_.string()), std::string::npos) << seen;
  // Only 0, 1, 2 and the one `ls` opens for /proc/self/fd.
  size_t env_end = seen.rfind('=');
  std::string fds = seen.substr(seen.find('\n', env_end) + 1);
  EXPECT_EQ(fds, "0\n1\n2\n3\n") << fds;
}

TEST_F(UploadPackProcessTest, UnsafeProtocolIsDropped) {
  UploadPackOptions options;
  options.repo_dir = repo_;
  options.git_binary = "sh";
  options.config = {"env"};
  options.git_protocol = "version=2;touch /tmp/x";
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_TRUE(p.ok());
  UniqueFd out = p->TakeStdout();
  EXPECT_EQ(ReadAll(out.get()).find("GIT_PROTOCOL"), std::string::npos);
  EXPECT_TRUE(p->Wait().success());
}

TEST_F(UploadPackProcessTest, KillAndTryWait) {
  UploadPackOptions options;
  options.repo_dir = repo_;  // upload-pack waits for a request on stdin
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->TryWait().has_value());
  p->Kill(SIGKILL);
  std::optional<ExitStatus> status;
  for (int i = 0; i < 500 && !status; ++i) {
    status = p->TryWait();
    if (!status) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(status.has_value());
  EXPECT_FALSE(status->success());
  EXPECT_EQ(status->ToString(), "killed by signal 9");
}

TEST_F(UploadPackProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    UploadPackOptions options;
    options.repo_dir = repo_;
    Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
    ASSERT_TRUE(p.ok());
    pid = p->pid();
  }
  EXPECT_FALSE(fs::exists("/proc/" + std::to_string(pid)));  // no zombie either
}

TEST(UploadPackSpawnTest, MissingBinaryIsAnError) {
  UploadPackOptions options;
  options.repo_dir = "/nonexistent";
  options.git_binary = "/nonexistent/git";
  Result<UploadPackProcess> p = UploadPackProcess::Spawn(options);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mirrord
