// Reloading the configuration (SIGHUP, what `systemctl reload mirrord` sends): the
// [[repos]] of the file are reconciled with the catalog while a client's fetch is in flight
// (repos added, re-pointed to another source and removed; the fetch completes), a bad file
// is refused with one line and the running configuration stays, and a repo the config
// manages cannot be removed behind its back.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/seeded_bytes.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

std::string Pkt(std::string_view payload) {
  char len[5];
  std::snprintf(len, sizeof len, "%04zx", payload.size() + 4);
  return std::string(len) + std::string(payload);
}

// A git upload-pack exchange over a raw socket, so that the test decides when the client
// reads: after Begin() the server has sent the start of the response and, the pack being
// far larger than the socket buffers, is blocked writing the rest until Finish() reads it.
class InFlightFetch {
 public:
  static Result<InFlightFetch> Begin(uint16_t port, std::string_view repo, std::string_view oid) {
    InFlightFetch f;
    f.fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (f.fd_ < 0) return ErrnoStatus(errno, "socket");
    // A small receive buffer keeps most of the pack on mirrord's side.
    int small = 64 * 1024;
    (void)::setsockopt(f.fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(f.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoStatus(errno, "connect");
    }
    const std::string body = Pkt("want " + std::string(oid) + "\n") + "0000" + Pkt("done\n");
    const std::string request = "POST /" + std::string(repo) +
                                ".git/git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/x-git-upload-pack-request\r\n"
                                "Accept: application/x-git-upload-pack-result\r\n"
                                "Content-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                body;
    if (::send(f.fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return ErrnoStatus(errno, "send");
    }
    // The header and the first bytes of the pack: the exchange is under way.
    while (f.raw_.find("\r\n\r\n") == std::string::npos || f.raw_.size() < 32 * 1024) {
      RETURN_IF_ERROR(f.ReadSome());
      if (f.eof_) return Internal("the response ended early: " + f.raw_.substr(0, 200));
    }
    return f;
  }

  InFlightFetch(InFlightFetch&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), raw_(std::move(o.raw_)), eof_(o.eof_) {}
  ~InFlightFetch() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Reads the rest. Returns the decoded body.
  Result<std::string> Finish() {
    while (!eof_) RETURN_IF_ERROR(ReadSome());
    size_t header_end = raw_.find("\r\n\r\n");
    std::string header = raw_.substr(0, header_end);
    if (!header.starts_with("HTTP/1.1 200")) return Internal("status: " + header);
    std::string body = raw_.substr(header_end + 4);
    if (header.find("chunked") == std::string::npos) return body;
    std::string out;
    size_t pos = 0;
    while (true) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string::npos) return Internal("truncated chunked body");
      size_t n = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
      if (n == 0) return out;
      if (eol + 2 + n > body.size()) return Internal("truncated chunk");
      out += body.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
  }

 private:
  InFlightFetch() = default;
  Status ReadSome() {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return ErrnoStatus(errno, "recv");
    if (n == 0) eof_ = true;
    raw_.append(buf, static_cast<size_t>(n));
    return Status::Ok();
  }

  int fd_ = -1;
  std::string raw_;
  bool eof_ = false;
};

// True when `body` is a complete upload-pack answer without capabilities: NAK, then a pack
// whose SHA-1 trailer matches its content.
bool IsCompletePack(const std::string& body) {
  if (!body.starts_with("0008NAK\n")) return false;
  std::string_view pack = std::string_view(body).substr(8);
  if (!pack.starts_with("PACK") || pack.size() < 32) return false;
  unsigned char sum[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(pack.data()), pack.size() - 20, sum);
  return std::string_view(reinterpret_cast<const char*>(sum), 20) == pack.substr(pack.size() - 20);
}

class ConfigReload : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("config-reload-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    // org/alpha holds 24 MiB of incompressible data: its pack cannot fit in socket buffers.
    for (auto [name, size, seed] :
         {std::tuple{"org/alpha", size_t{24} << 20, 1u}, std::tuple{"org/beta", size_t{1000}, 2u},
          std::tuple{"elsewhere/beta", size_t{2000}, 3u}, std::tuple{"org/gamma", size_t{3000}, 4u},
          std::tuple{"org/gone", size_t{4000}, 5u}}) {
      ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo(name));
      ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work" / name));
      ASSERT_OK_AND_ASSIGN(std::string oid, work.CommitFile("data.bin", SeededBytes(size, seed),
                                                            "data of " + std::string(name)));
      ASSERT_OK(work.Push(bare.string(), {"HEAD:refs/heads/main"}));
      upstream_oids_[name] = oid;
    }
  }

  std::string Repo(std::string_view name, std::string_view source) const {
    return "[[repos]]\nname = \"" + std::string(name) + "\"\nurl = \"" + upstream_->UrlFor(source) +
           "\"\n\n";
  }

  // The oid of refs/heads/main that mirrord serves for `name` ("" when it serves none).
  std::string ServedMain(std::string_view name) {
    Result<std::string> out = Git({"ls-remote", mirrord_->UrlFor(name), "refs/heads/main"});
    if (!out.ok()) return "";
    return out->substr(0, out->find('\t'));
  }

  void WaitServes(std::string_view name, const std::string& oid) {
    EXPECT_TRUE(PollUntil([&] { return ServedMain(name) == oid; }, seconds(60)))
        << name << " never served " << oid << "\n"
        << mirrord_->Logs();
  }

  // Sends SIGHUP and waits for the reload's outcome line (from the lines after `from`).
  Result<std::string> Reload() {
    const size_t from = mirrord_->process()->StderrLineCount();
    RETURN_IF_ERROR(mirrord_->process()->Kill(SIGHUP));
    return mirrord_->process()->WaitForLine(
        [](std::string_view l) {
          return l.find("configuration reloaded") != std::string_view::npos ||
                 l.find("reload refused") != std::string_view::npos;
        },
        std::chrono::seconds(60), from);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::map<std::string, std::string> upstream_oids_;
};

TEST_F(ConfigReload, AddsRepointsAndRemovesReposWhileAFetchIsInFlight) {
  MirrordOptions options;
  options.extra_toml = "[sync]\nretry_attempts = 1\n\n" + Repo("org/alpha", "org/alpha") +
                       Repo("org/beta", "org/beta") + Repo("org/gone", "org/gone");
  ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(options));
  for (const char* name : {"org/alpha", "org/beta", "org/gone"}) {
    WaitServes(name, upstream_oids_[name]);
  }

  // A client is fetching org/alpha's 24 MiB pack and mirrord is blocked sending it.
  ASSERT_OK_AND_ASSIGN(InFlightFetch fetch, InFlightFetch::Begin(mirrord_->port(), "org/alpha",
                                                                 upstream_oids_["org/alpha"]));

  // org/beta now comes from elsewhere/beta, org/gamma is new, org/gone is gone.
  ASSERT_OK(
      mirrord_->SetExtraToml("[sync]\nretry_attempts = 1\n\n" + Repo("org/alpha", "org/alpha") +
                             Repo("org/beta", "elsewhere/beta") + Repo("org/gamma", "org/gamma")));
  ASSERT_OK_AND_ASSIGN(std::string reloaded, Reload());
  EXPECT_THAT(reloaded, HasSubstr("configuration reloaded"));
  EXPECT_THAT(reloaded, HasSubstr("1 added, 1 re-pointed, 1 removed"));
  std::string logs = mirrord_->Logs();
  EXPECT_THAT(logs, HasSubstr("org/beta re-pointed from " + upstream_->UrlFor("org/beta") + " to " +
                              upstream_->UrlFor("elsewhere/beta")));
  EXPECT_THAT(logs, HasSubstr("org/gone was removed from the config"));

  // The fetch that was in flight completes, byte-exact.
  ASSERT_OK_AND_ASSIGN(std::string pack, fetch.Finish());
  EXPECT_TRUE(IsCompletePack(pack)) << "incomplete response of " << pack.size() << " bytes";
  EXPECT_GT(pack.size(), size_t{24} << 20);

  WaitServes("org/gamma", upstream_oids_["org/gamma"]);
  WaitServes("org/beta", upstream_oids_["elsewhere/beta"]);
  // The removed repo keeps its data and is still served, but is no longer synced.
  EXPECT_EQ(ServedMain("org/gone"), upstream_oids_["org/gone"]);
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", "org/gone"}));
  EXPECT_NE(sync.exit_code, 0);
  EXPECT_THAT(sync.stderr_text, HasSubstr("removed from the config"));

  // A repo the config manages cannot be removed behind its back (it would come back).
  ASSERT_OK_AND_ASSIGN(ProcessResult remove, mirrord_->Mirrorctl({"remove", "org/alpha", "--yes"}));
  EXPECT_NE(remove.exit_code, 0) << remove.Describe();
  EXPECT_THAT(remove.stderr_text, HasSubstr("[[repos]]"));
  EXPECT_EQ(ServedMain("org/alpha"), upstream_oids_["org/alpha"]);
  // A retired one can.
  ASSERT_OK_AND_ASSIGN(ProcessResult purge, mirrord_->Mirrorctl({"remove", "org/gone", "--yes"}));
  EXPECT_TRUE(purge.ok()) << purge.Describe();

  // Reconciling again is a no-op; a restart reconciles the same way (nothing comes back).
  ASSERT_OK_AND_ASSIGN(std::string again, Reload());
  EXPECT_THAT(again, HasSubstr("0 added, 0 re-pointed, 0 removed"));
  ASSERT_OK(mirrord_->Restart());
  EXPECT_EQ(ServedMain("org/gone"), "");
  EXPECT_EQ(ServedMain("org/beta"), upstream_oids_["elsewhere/beta"]);
}

TEST_F(ConfigReload, ABadConfigIsRefusedWithOneLineAndTheRunningOneStays) {
  MirrordOptions options;
  options.extra_toml = Repo("org/alpha", "org/beta");
  ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(options));
  WaitServes("org/alpha", upstream_oids_["org/beta"]);

  // Each would also stop a start and fail --check-config.
  const std::vector<std::string> bad = {
      Repo("org/alpha", "org/beta") + "unknown_key = 1\n",
      Repo("org/alpha", "org/beta") + "[[repos]]\nname = \"org/x\"\nurl = \"ftp://h/x\"\n",
      "[webhooks.github]\nsecret_file = \"" + (dir_->path() / "missing.secret").string() + "\"\n",
  };
  for (const std::string& toml : bad) {
    ASSERT_OK(mirrord_->SetExtraToml(toml));
    const size_t from = mirrord_->process()->StderrLineCount();
    ASSERT_OK_AND_ASSIGN(std::string line, Reload());
    EXPECT_THAT(line, HasSubstr("reload refused, keeping the running configuration")) << toml;
    // One line: nothing reconciled, nothing else logged about the config.
    std::vector<std::string> lines = mirrord_->process()->StderrLines();
    for (size_t i = from; i < lines.size(); ++i) {
      EXPECT_THAT(lines[i], ::testing::Not(HasSubstr("removed from the config"))) << lines[i];
    }
    ProcessOptions o;
    o.timeout = std::chrono::milliseconds(20'000);
    ASSERT_OK_AND_ASSIGN(ProcessResult check,
                         RunProcess({MirrordProcess::DefaultMirrordBinary().string(), "--config",
                                     mirrord_->config_path().string(), "--check-config"},
                                    o));
    EXPECT_EQ(check.exit_code, 2) << toml << check.Describe();
  }
  // Still mirrored and synced from the running configuration.
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, "org/alpha"));
  EXPECT_GT(status.last_success_at, 0);
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", "org/alpha"}));
  EXPECT_TRUE(sync.ok()) << sync.Describe();
}

}  // namespace
}  // namespace mirrord::test
