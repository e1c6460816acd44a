// The real mirrord under hostile HTTP clients (issue 10): each attack runs while a real
// `git clone` (and git-lfs where LFS is involved) and /healthz must keep working, and the
// daemon's peak memory (VmHWM in /proc/PID/status) must stay under a stated bound.
//  - LFS batch bombs: 63 MiB `{"operation":"download","objects":[0,0,...]}` bodies, four at
//    once, with Content-Length and chunked.
//  - Slow clients: bodies trickled at 1 byte per 2 s, many connections from other loopback
//    addresses, nearly complete 63 MiB bodies held open.
//  - Request smuggling: Transfer-Encoding other than exactly "chunked", Content-Length with
//    Transfer-Encoding, malformed chunked bodies; the body must never run as a request.
//  - Host spoofing: LFS hrefs never point at the Host a client claims.
//  - A full disk under a pull-through answers 503 with Retry-After, not 500.
// MIRRORD_BASELINE_BINARY=PATH runs the attacks against another mirrord build (to measure
// the peak RSS of a build without these limits; the [server] limit keys are then left out
// of its config, and its failures are the measurement, not a regression).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr std::string_view kRepo = "org/model";
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBombSize = 63 * kMiB;

// A plain TCP client from a chosen loopback address, so that attackers and the clone count
// as different clients. Every wait has a timeout so that a server bug fails the test.
class RawConnection {
 public:
  RawConnection(uint16_t port, const char* source = "127.0.0.1") {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }

  bool connected() const { return connected_; }

  // False once the peer no longer takes bytes.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Everything the server sends until it closes, or until `timeout`; nullopt on timeout.
  std::optional<std::string> ReadUntilClosed(std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[65536];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) return out;  // closed (or reset)
      out.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
};

// Peak resident memory of `pid` in bytes (VmHWM), 0 if unreadable.
uint64_t PeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

size_t CountResponses(std::string_view bytes) {
  size_t n = 0;
  for (size_t pos = bytes.find("HTTP/1.1 "); pos != std::string_view::npos;
       pos = bytes.find("HTTP/1.1 ", pos + 1)) {
    ++n;
  }
  return n;
}

class HostileClients : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("hostile-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.WriteFile(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n"));
    ASSERT_OK(work.WriteFile("README.md", "# model\n"));
    ASSERT_OK_AND_ASSIGN(oid_, lfs_->PutGeneratedObject(kObjectSize, 7));
    ASSERT_OK(work.WriteFile("weights.bin", LfsPointerText(oid_, kObjectSize)));
    ASSERT_OK(work.Commit("weights").status());
    ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo(kRepo));
    GitOptions o;
    o.env["GIT_LFS_SKIP_PUSH"] = "1";
    ASSERT_OK(work.PushMirror(bare.string(), o));
  }

  // Starts mirrord with `server_toml` in [server] and mirrors kRepo (with `repo_toml` as
  // its [[repos]] entry's extra lines, if any, in `work_dir`, if given).
  void StartMirrord(std::string server_toml, std::string repo_toml = "",
                    std::filesystem::path work_dir = {}) {
    MirrordOptions o;
    o.server_toml = std::move(server_toml);
    o.work_dir = std::move(work_dir);
    if (const char* baseline = std::getenv("MIRRORD_BASELINE_BINARY"); baseline != nullptr) {
      o.mirrord_binary = baseline;
      o.server_toml.clear();
    }
    o.extra_toml = "[sync]\nmaintenance = false\n";
    if (!repo_toml.empty()) {
      o.extra_toml += "\n[[repos]]\nname = \"" + std::string(kRepo) + "\"\nurl = \"" +
                      upstream_->UrlFor(kRepo) + "\"\npoll_interval = \"1d\"\n" + repo_toml;
    }
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    std::vector<std::string> sync = {"sync", std::string(kRepo)};
    if (repo_toml.empty()) sync.insert(sync.end(), {"--url", upstream_->UrlFor(kRepo)});
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl(sync));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  pid_t Pid() { return mirrord_->process()->pid(); }

  void ExpectHealthy() {
    HttpCall call;
    call.timeout = 10s;
    Result<HttpReply> r = HttpFetch(mirrord_->BaseUrl() + "/healthz", call);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->status, 200);
  }

  // A real clone plus `git lfs pull` from 127.0.0.1, checked against the upstream's bytes.
  void ExpectCloneWorks() {
    std::filesystem::path dest = dir_->path() / ("clone-" + std::to_string(++clones_));
    ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), dest.string()}).status())
        << mirrord_->Logs();
    ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(oid_)));
    ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dest / "weights.bin"));
    EXPECT_TRUE(got == want) << "weights.bin differs from the upstream's object";
  }

  std::string BatchPath() const { return "/" + std::string(kRepo) + ".git/info/lfs/objects/batch"; }

  static constexpr uint64_t kObjectSize = 256 << 10;
  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string oid_;
  int clones_ = 0;
};

// The body of the issue's batch bomb: `{"operation":"download","objects":[0,0,...]}`.
std::string BatchBomb(uint64_t size) {
  std::string body = R"({"operation":"download","objects":[0)";
  body.reserve(size);
  while (body.size() + 4 < size) body += ",0";
  body += "]}";
  return body;
}

TEST_F(HostileClients, BatchBombsStayWithinMemoryWhileHealthzAndClonesWork) {
  StartMirrord("");
  ExpectCloneWorks();
  const uint64_t before = PeakRss(Pid());
  const std::string big_bomb = BatchBomb(kBombSize);
  // Under the batch body limit: read, then parsed on the blocking pool, which stops at the
  // first entry that is not an object (422) instead of building a 2-million-value tree.
  const std::string small_bomb = BatchBomb(4 * kMiB - 4096);
  const uint16_t port = mirrord_->port();
  std::atomic<int> rejected{0};
  auto attack = [&](bool chunked, const std::string& bomb) {
    RawConnection c(port, "127.0.0.2");
    if (!c.connected()) return;
    std::string head = "POST " + BatchPath() +
                       " HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.git-lfs+json\r\n";
    if (chunked) {
      head += "Transfer-Encoding: chunked\r\n\r\n";
      c.Send(head);
      for (size_t pos = 0; pos < bomb.size(); pos += kMiB) {
        std::string_view piece = std::string_view(bomb).substr(pos, kMiB);
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
        if (!c.Send(size_line) || !c.Send(piece) || !c.Send("\r\n")) break;
      }
      c.Send("0\r\n\r\n");
    } else {
      head += "Content-Length: " + std::to_string(bomb.size()) + "\r\n\r\n";
      c.Send(head);
      c.Send(bomb);
    }
    std::optional<std::string> answer = c.ReadUntilClosed(60s);
    if (answer && (answer->starts_with("HTTP/1.1 413") || answer->starts_with("HTTP/1.1 422"))) {
      ++rejected;
    }
  };
  std::vector<std::thread> attackers;
  for (int i = 0; i < 4; ++i) attackers.emplace_back(attack, false, std::cref(big_bomb));
  for (int i = 0; i < 2; ++i) attackers.emplace_back(attack, true, std::cref(big_bomb));
  for (int i = 0; i < 2; ++i) attackers.emplace_back(attack, false, std::cref(small_bomb));
  ExpectHealthy();
  ExpectCloneWorks();
  for (std::thread& t : attackers) t.join();
  ExpectHealthy();
  EXPECT_EQ(rejected.load(), 8);
  const uint64_t peak = PeakRss(Pid());
  std::cout << "VmHWM before the batch bombs " << before / kMiB << " MiB, after " << peak / kMiB
            << " MiB\n";
  // Six 63 MiB bodies and two 4 MiB ones: at most 4 MiB of each is ever read, and no
  // document tree is built.
  EXPECT_LT(peak, before + 100 * kMiB) << "peak RSS " << peak / kMiB << " MiB";
  EXPECT_NE(mirrord_->Logs().find("413"), std::string::npos);
}

TEST_F(HostileClients, SlowBodiesAreCutAndConnectionsCappedWhileHealthzAndClonesWork) {
  StartMirrord(
      "max_connections = 64\nmax_connections_per_client = 6\nrequest_timeout = \"4s\"\n"
      "min_transfer_rate = 100\nbody_memory_budget = 67108864\n");
  ExpectCloneWorks();
  const uint64_t before = PeakRss(Pid());
  const uint16_t port = mirrord_->port();
  const std::string upload_pack = "/" + std::string(kRepo) + ".git/git-upload-pack";

  // 1. A body trickled at 1 byte per 2 s is cut by the request deadline.
  RawConnection trickle(port, "127.0.0.9");
  ASSERT_TRUE(trickle.connected());
  ASSERT_TRUE(trickle.Send("POST " + upload_pack +
                           " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           "application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n"));
  std::atomic<bool> trickle_cut{false};
  std::thread trickler([&] {
    for (int i = 0; i < 30 && !trickle_cut; ++i) {
      if (!trickle.Send("0")) {
        trickle_cut = true;
        return;
      }
      std::this_thread::sleep_for(2s);  // the attack's pace, not synchronisation
    }
  });

  // 2. Four "clients" each open more connections than their cap and hold them with a
  //    request header that never ends.
  std::vector<std::unique_ptr<RawConnection>> holders;
  for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    for (int i = 0; i < 8; ++i) {
      auto c = std::make_unique<RawConnection>(port, source);
      if (c->connected()) c->Send("GET /healthz HTTP/1.1\r\nX-Slow: ");
      holders.push_back(std::move(c));
    }
  }
  // 3. Nearly complete 63 MiB bodies held open: only what body_memory_budget (64 MiB)
  //    admits is buffered; the rest get 503.
  std::vector<std::unique_ptr<RawConnection>> heavy;
  std::string almost(kBombSize - 1, '0');
  for (const char* source : {"127.0.0.6", "127.0.0.7", "127.0.0.8"}) {
    auto c = std::make_unique<RawConnection>(port, source);
    if (c->connected()) {
      c->Send("POST " + upload_pack + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
              std::to_string(kBombSize) + "\r\n\r\n");
      c->Send(almost);
    }
    heavy.push_back(std::move(c));
  }

  ExpectHealthy();
  ExpectCloneWorks();
  ExpectHealthy();

  // The over-cap connections of each client were refused with 503.
  int refused = 0;
  for (auto& c : holders) {
    std::optional<std::string> got = c->ReadUntilClosed(30s);
    ASSERT_TRUE(got.has_value()) << "a slow header was never cut";
    if (got->starts_with("HTTP/1.1 503")) ++refused;
  }
  EXPECT_GE(refused, 4 * (8 - 6));
  int busy = 0;
  for (auto& c : heavy) {
    std::optional<std::string> got = c->ReadUntilClosed(30s);
    ASSERT_TRUE(got.has_value()) << "a held body was never cut";
    if (got->starts_with("HTTP/1.1 503")) ++busy;
  }
  EXPECT_GE(busy, 2) << "only one 63 MiB body fits a 64 MiB budget";
  std::optional<std::string> trickled = trickle.ReadUntilClosed(30s);
  EXPECT_TRUE(trickled.has_value()) << "the trickled body was never cut";
  trickle_cut = true;
  trickler.join();
  EXPECT_NE(mirrord_->Logs().find("request cut"), std::string::npos);

  const uint64_t peak = PeakRss(Pid());
  std::cout << "VmHWM before the slow-client attack " << before / kMiB << " MiB, after "
            << peak / kMiB << " MiB\n";
  // Three 63 MiB bodies were sent; the budget admits one.
  EXPECT_LT(peak, before + 64 * kMiB + 40 * kMiB) << "peak RSS " << peak / kMiB << " MiB";
  ExpectHealthy();
}

TEST_F(HostileClients, SmuggledRequestsAreNeverExecuted) {
  StartMirrord("");
  const uint16_t port = mirrord_->port();
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    std::string headers;
    int status;
  };
  const std::vector<Case> cases = {
      {"Transfer-Encoding: gzip\r\n", 501},
      {"Transfer-Encoding: identity\r\n", 501},
      {"Transfer-Encoding: xchunked\r\n", 501},
      {"Transfer-Encoding: chunked, gzip\r\n", 501},
      {"Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n",
       400},
      {"Content-Length: " + std::to_string(smuggled.size()) + "\r\nTransfer-Encoding: chunked\r\n",
       400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
  };
  for (const Case& c : cases) {
    for (const std::string& path : {BatchPath(), std::string("/healthz")}) {
      RawConnection conn(port);
      ASSERT_TRUE(conn.connected());
      ASSERT_TRUE(conn.Send("POST " + path + " HTTP/1.1\r\nHost: x\r\n" + c.headers + "\r\n" +
                            smuggled));
      std::optional<std::string> got = conn.ReadUntilClosed(20s);
      ASSERT_TRUE(got.has_value()) << c.headers << ": the connection stayed open";
      EXPECT_TRUE(got->starts_with("HTTP/1.1 " + std::to_string(c.status)))
          << c.headers << " -> " << got->substr(0, 40);
      EXPECT_EQ(CountResponses(*got), 1u) << c.headers << ": the body ran as a request:\n" << *got;
    }
  }
  // A malformed chunked body is a 400, not a silent close.
  RawConnection bad(port);
  ASSERT_TRUE(bad.connected());
  ASSERT_TRUE(bad.Send("POST " + BatchPath() +
                       " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" +
                       smuggled));
  std::optional<std::string> got = bad.ReadUntilClosed(20s);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->starts_with("HTTP/1.1 400")) << got->substr(0, 40);
  EXPECT_EQ(CountResponses(*got), 1u);
  ExpectHealthy();
}

TEST_F(HostileClients, LfsHrefsIgnoreASpoofedHost) {
  StartMirrord("");
  const std::string body = json::serialize(json::object{
      {"operation", "download"},
      {"objects", json::array{json::object{{"oid", oid_}, {"size", kObjectSize}}}}});
  auto href_for = [&](std::vector<std::pair<std::string, std::string>> headers) -> std::string {
    HttpCall call;
    call.method = "POST";
    call.headers = std::move(headers);
    call.headers.push_back({"Content-Type", "application/vnd.git-lfs+json"});
    call.body = body;
    Result<HttpReply> r = HttpFetch(mirrord_->BaseUrl() + BatchPath(), call);
    EXPECT_OK(r.status());
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    json::value v = json::parse(r->body);
    return std::string(
        v.at("objects").at(0).at("actions").at("download").at("href").as_string());
  };
  const std::string own = mirrord_->BaseUrl() + "/" + std::string(kRepo) + ".git/info/lfs/objects/";
  std::string spoofed = href_for({{"Host", "evil.example"}, {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(spoofed, own + oid_);
  EXPECT_EQ(spoofed.find("evil"), std::string::npos);
  std::string spoofed_port = href_for({{"Host", "127.0.0.1:1"}});
  EXPECT_EQ(spoofed_port, own + oid_);
  // The Host the client really used is kept.
  EXPECT_EQ(href_for({}), own + oid_);
  ExpectCloneWorks();

  // With public_url, every href starts there whatever Host says.
  ASSERT_OK(mirrord_->Terminate().status());
  mirrord_.reset();
  StartMirrord("public_url = \"https://mirror.lab.example/\"\n");
  EXPECT_EQ(href_for({{"Host", "evil.example"}}),
            "https://mirror.lab.example/" + std::string(kRepo) + ".git/info/lfs/objects/" + oid_);
}

TEST_F(HostileClients, FullDiskDuringPullThroughIsRetryLaterNot500) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs as the LFS store needs root";
  // The LFS store on a tmpfs too small for the object, which the sync leaves out
  // (lfs_exclude) so that the first client GET fetches it (pull-through) onto a full disk.
  const std::filesystem::path work_dir = dir_->path() / "mirrord-full-disk";
  const std::filesystem::path lfs_dir = work_dir / "store" / "lfs";
  ASSERT_OK(CreateDirectories(lfs_dir));
  if (::mount("tmpfs", lfs_dir.c_str(), "tmpfs", 0, "size=65536,mode=0755") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  struct Unmount {
    std::filesystem::path dir;
    ~Unmount() { (void)::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{lfs_dir};
  StartMirrord("", "lfs_exclude = [\"*.bin\"]\n", work_dir);
  HttpCall call;
  Result<HttpReply> r = HttpFetch(
      mirrord_->UrlFor(kRepo) + "/info/lfs/objects/" + oid_, call);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_TRUE(r->Header("Retry-After").has_value()) << r->body;
  EXPECT_NE(r->body.find("No space left on device"), std::string::npos) << r->body;
  ExpectHealthy();
  ASSERT_OK(mirrord_->Terminate().status());  // let go of the mount before it is removed
  mirrord_.reset();
}

}  // namespace
}  // namespace mirrord::test
