// End-to-end tests of git smart HTTP: a real HttpServer + Router + GitHttpHandler on
// 127.0.0.1:0, driven by the real git and curl command-line clients.
#include "daemon/git_http_handler.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "daemon/http_server.h"
#include "daemon/router.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct CmdResult {
  int code = -1;
  std::string out;
  std::string err;
};

fs::path g_root;  // temp dir of the whole suite

std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `cmd` with sh in a clean environment (no user or system git config, no proxies).
CmdResult Sh(const std::string& cmd) {
  static std::atomic<int> counter{0};
  fs::path err = g_root / ("stderr." + std::to_string(counter++));
  const char* path = getenv("PATH");
  std::string full = "env -i PATH=" + Quote(path ? path : "/usr/bin:/bin") +
                     " HOME=" + Quote((g_root / "home").string()) +
                     " GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 LC_ALL=C"
                     " GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com"
                     " GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com sh -c " +
                     Quote(cmd) + " 2>" + Quote(err.string());
  CmdResult r;
  FILE* f = popen(full.c_str(), "r");
  if (f == nullptr) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  int status = pclose(f);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFile(err);
  fs::remove(err);
  return r;
}

CmdResult ShOk(const std::string& cmd) {
  CmdResult r = Sh(cmd);
  EXPECT_EQ(r.code, 0) << cmd << "\n" << r.err;
  return r;
}

std::string Pkt(std::string_view payload) {
  char len[5];
  std::snprintf(len, sizeof len, "%04zx", payload.size() + 4);
  return std::string(len) + std::string(payload);
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Direct children of this test process (git upload-pack runs as one while serving).
std::vector<pid_t> ChildProcesses() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0) continue;
    std::string stat = ReadFile(fs::path("/proc") / e->d_name / "stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == getpid()) out.push_back(pid);
  }
  closedir(d);
  return out;
}

bool WaitForNoChildren(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ChildProcesses().empty()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return ChildProcesses().empty();
}

// HttpServer + Router + GitHttpHandler serving g_root/repos on its own thread.
class GitServer {
 public:
  explicit GitServer(GitHttpOptions git_options = {}, RouteOptions route = {}) {
    git_options.git_home = g_root / "git-home";
    auto handler = std::make_shared<GitHttpHandler>(
        [this](std::string_view name) -> std::optional<fs::path> {
          ++resolver_calls;
          fs::path dir = g_root / "repos" / (std::string(name) + ".git");
          if (!fs::is_directory(dir)) return std::nullopt;
          return dir;
        },
        git_options);
    auto router = std::make_shared<Router>();
    router->SetRepoHandler(
        [handler](HttpExchange& ex, const RepoPath& repo) { return handler->Handle(ex, repo); },
        route);
    server_ = std::make_unique<HttpServer>(io_, router);
    Result<boost::asio::ip::tcp::endpoint> ep = server_->Listen("127.0.0.1", 0);
    EXPECT_TRUE(ep.ok()) << ep.status().ToString();
    if (ep.ok()) port_ = ep->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~GitServer() {
    server_->Stop(0ms);
    thread_.join();
  }

  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  uint16_t port() const { return port_; }

  std::atomic<int> resolver_calls{0};

 private:
  boost::asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// "HTTP status code" of a curl request; `args` are extra curl arguments.
std::string CurlStatus(const std::string& args, const std::string& url,
                       std::string* body = nullptr) {
  fs::path out = g_root / "curl.out";
  CmdResult r = Sh("curl -s --path-as-is -o " + Quote(out.string()) + " -w '%{http_code}' " + args +
                   " " + Quote(url));
  if (body != nullptr) *body = ReadFile(out);
  return r.out;
}

class GitHttpHandlerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/mirrord-git-http-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    g_root = tmpl;
    fs::create_directories(g_root / "home");
    fs::create_directories(g_root / "repos" / "owner");
    const std::string work = (g_root / "work").string();
    // An upstream with branches, a lightweight tag and many annotated tags: enough "want"
    // lines for git to gzip its upload-pack request.
    ShOk("git init -q -b main " + Quote(work) + " && cd " + Quote(work) +
         " && echo one > a.txt && git add a.txt && git commit -qm one"
         " && echo two >> a.txt && git commit -qam two && git tag v1"
         " && git checkout -qb dev && echo dev > d.txt && git add d.txt && git commit -qm dev"
         " && git checkout -q main && echo three >> a.txt && git commit -qam three"
         " && for i in $(seq 1 40); do git tag -a -m \"release $i\" rel-$i; done");
    ShOk("git clone -q --bare " + Quote(work) + " " +
         Quote((g_root / "repos" / "owner" / "repo.git").string()));
    // A repository with a pack too big to fit in socket buffers, for the disconnect test.
    const std::string big = (g_root / "big-work").string();
    ShOk("git init -q -b main " + Quote(big) + " && cd " + Quote(big) +
         " && head -c 24000000 /dev/urandom > blob.bin && git add blob.bin && git commit -qm big");
    ShOk("git clone -q --bare " + Quote(big) + " " +
         Quote((g_root / "repos" / "owner" / "big.git").string()) + " && git -C " +
         Quote((g_root / "repos" / "owner" / "big.git").string()) + " repack -adq");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(g_root, ec);
  }

  static std::string Upstream() { return (g_root / "repos" / "owner" / "repo.git").string(); }

  // Clones `url` into a fresh directory and checks it against the upstream.
  void CloneAndVerify(const std::string& url, const std::string& git_args, std::string* trace) {
    static std::atomic<int> n{0};
    const std::string dst = (g_root / ("clone-" + std::to_string(n++))).string();
    CmdResult r =
        Sh("GIT_TRACE_PACKET=1 git " + git_args + " clone -q " + Quote(url) + " " + Quote(dst));
    ASSERT_EQ(r.code, 0) << r.err.substr(0, 4000);
    if (trace != nullptr) *trace = r.err;
    ShOk("git -C " + Quote(dst) + " fsck --full --strict");
    // Same branches and tags, at the same objects.
    const std::string format = " for-each-ref --format='%(objectname) %(refname:lstrip=2)' ";
    std::string expected = ShOk("git -C " + Quote(Upstream()) + format + "refs/heads").out +
                           ShOk("git -C " + Quote(Upstream()) + format + "refs/tags").out;
    std::string remotes =
        ShOk("git -C " + Quote(dst) +
             " for-each-ref --format='%(objectname) %(refname:lstrip=3)' refs/remotes/origin")
            .out;
    std::string cloned;
    std::istringstream lines(remotes);
    for (std::string line; std::getline(lines, line);) {
      if (!line.ends_with(" HEAD")) cloned += line + "\n";
    }
    cloned += ShOk("git -C " + Quote(dst) + format + "refs/tags").out;
    EXPECT_EQ(cloned, expected);
    EXPECT_NE(expected.find(" main\n"), std::string::npos);
    fs::remove_all(dst);
  }
};

TEST_F(GitHttpHandlerTest, CloneWithProtocolV0WithAndWithoutDotGit) {
  GitServer server;
  std::string trace;
  CloneAndVerify(server.Url("/owner/repo.git"), "-c protocol.version=0", &trace);
  EXPECT_NE(trace.find("# service=git-upload-pack"), std::string::npos);
  EXPECT_EQ(trace.find("version 2"), std::string::npos);
  CloneAndVerify(server.Url("/owner/repo"), "-c protocol.version=0", nullptr);
}

TEST_F(GitHttpHandlerTest, CloneWithProtocolV2WithAndWithoutDotGit) {
  GitServer server;
  std::string trace;
  CloneAndVerify(server.Url("/owner/repo.git"), "-c protocol.version=2", &trace);
  EXPECT_NE(trace.find("version 2"), std::string::npos);
  EXPECT_NE(trace.find("ls-refs"), std::string::npos);
  CloneAndVerify(server.Url("/owner/repo"), "-c protocol.version=2", nullptr);
}

TEST_F(GitHttpHandlerTest, LsRemoteMatchesUpstream) {
  GitServer server;
  for (const char* version : {"0", "2"}) {
    std::string remote = ShOk(std::string("git -c protocol.version=") + version + " ls-remote " +
                              Quote(server.Url("/owner/repo.git")))
                             .out;
    std::string local = ShOk("git ls-remote " + Quote(Upstream())).out;
    EXPECT_EQ(remote, local) << "protocol " << version;
  }
}

TEST_F(GitHttpHandlerTest, PartialCloneWithFilter) {
  GitServer server;
  const std::string dst = (g_root / "partial").string();
  CmdResult r = Sh("git clone -q --filter=blob:none " + Quote(server.Url("/owner/repo.git")) + " " +
                   Quote(dst));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ShOk("git -C " + Quote(dst) + " config remote.origin.promisor").out, "true\n");
  fs::remove_all(dst);
}

TEST_F(GitHttpHandlerTest, PushIsRefusedAsReadOnly) {
  GitServer server;
  const std::string dst = (g_root / "push-clone").string();
  ShOk("git clone -q " + Quote(server.Url("/owner/repo.git")) + " " + Quote(dst));
  ShOk("cd " + Quote(dst) + " && echo x > x.txt && git add x.txt && git commit -qm x");
  CmdResult r = Sh("git -C " + Quote(dst) + " push origin HEAD:refs/heads/pushed");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("this is a read-only mirror; push to the upstream instead"),
            std::string::npos)
      << r.err;
  std::string body;
  EXPECT_EQ(
      CurlStatus("-X POST --data-binary x", server.Url("/owner/repo.git/git-receive-pack"), &body),
      "403");
  EXPECT_EQ(body, kReadOnlyMirrorMessage);
  fs::remove_all(dst);
}

TEST_F(GitHttpHandlerTest, UnknownRepositoryIs404) {
  GitServer server;
  std::string body;
  EXPECT_EQ(
      CurlStatus("", server.Url("/owner/missing.git/info/refs?service=git-upload-pack"), &body),
      "404");
  EXPECT_EQ(body, "repository not found\n");
  CmdResult r = Sh("git clone -q " + Quote(server.Url("/owner/missing.git")) + " " +
                   Quote((g_root / "missing").string()));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST_F(GitHttpHandlerTest, InvalidNamesAre400AndNeverReachTheDisk) {
  GitServer server;
  const std::string q = "/info/refs?service=git-upload-pack";
  for (const std::string& path :
       {std::string("//etc/passwd"), "//etc/passwd" + q, "/../../etc/passwd" + q,
        "/owner/%2e%2e/repo.git" + q, "/owner/re%01po.git" + q, "/owner/re%00po.git" + q,
        "/owner/" + std::string(101, 'a') + ".git" + q, "/owner/.git" + q,
        "/owner/repo%20x.git" + q}) {
    std::string body;
    EXPECT_EQ(CurlStatus("", server.Url(path), &body), "400") << path;
    EXPECT_NE(body.find("invalid repository name"), std::string::npos) << path << ": " << body;
  }
  EXPECT_EQ(server.resolver_calls.load(), 0);
}

TEST_F(GitHttpHandlerTest, DumbHttpAndUnknownPathsAre404) {
  GitServer server;
  for (const char* path :
       {"/owner/repo.git/HEAD", "/owner/repo.git/objects/info/packs", "/owner/repo.git/info/refs",
        "/owner/repo.git", "/owner/repo.git/info/lfs/objects/batch"}) {
    EXPECT_EQ(CurlStatus("", server.Url(path)), "404") << path;
  }
  EXPECT_EQ(CurlStatus("", server.Url("/owner/repo.git/git-upload-pack")), "405");
}

TEST_F(GitHttpHandlerTest, InfoRefsHeaders) {
  GitServer server;
  CmdResult r = Sh("curl -s -D - -o /dev/null " +
                   Quote(server.Url("/owner/repo.git/info/refs?service=git-upload-pack")));
  EXPECT_NE(r.out.find("Content-Type: application/x-git-upload-pack-advertisement"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Cache-Control: no-cache"), std::string::npos) << r.out;
  std::string body;
  CurlStatus("", server.Url("/owner/repo.git/info/refs?service=git-upload-pack"), &body);
  EXPECT_EQ(body.rfind("001e# service=git-upload-pack\n0000", 0), 0u);
  CurlStatus("-H 'Git-Protocol: version=2'",
             server.Url("/owner/repo.git/info/refs?service=git-upload-pack"), &body);
  EXPECT_EQ(body.rfind("000eversion 2\n", 0), 0u) << body.substr(0, 100);
  // An unsafe Git-Protocol value is not passed to git: the answer is a v0 advertisement.
  CurlStatus("-H 'Git-Protocol: version=2;rm -rf /'",
             server.Url("/owner/repo.git/info/refs?service=git-upload-pack"), &body);
  EXPECT_EQ(body.rfind("001e# service=git-upload-pack\n0000", 0), 0u);
}

TEST_F(GitHttpHandlerTest, GzipRequestBody) {
  GitServer server;
  const fs::path req = g_root / "ls-refs.gz";
  {
    std::ofstream out(req, std::ios::binary);
    out << Gzip(Pkt("command=ls-refs\n") + "0001" + Pkt("ref-prefix refs/heads/\n") + "0000");
  }
  std::string body;
  const std::string headers =
      "-H 'Content-Type: application/x-git-upload-pack-request' -H 'Git-Protocol: version=2' ";
  EXPECT_EQ(
      CurlStatus(headers + "-H 'Content-Encoding: gzip' --data-binary @" + Quote(req.string()),
                 server.Url("/owner/repo.git/git-upload-pack"), &body),
      "200");
  EXPECT_NE(body.find(" refs/heads/main\n"), std::string::npos) << body;
  EXPECT_NE(body.find(" refs/heads/dev\n"), std::string::npos) << body;
  EXPECT_EQ(body.find("refs/tags/"), std::string::npos) << body;

  // Corrupt gzip: 400, and git is not left behind.
  {
    std::ofstream out(req, std::ios::binary);
    out << "\x1f\x8b\x08\x00garbage-garbage-garbage";
  }
  EXPECT_EQ(
      CurlStatus(headers + "-H 'Content-Encoding: gzip' --data-binary @" + Quote(req.string()),
                 server.Url("/owner/repo.git/git-upload-pack")),
      "400");
  EXPECT_EQ(CurlStatus(headers + "-H 'Content-Encoding: br' --data-binary x",
                       server.Url("/owner/repo.git/git-upload-pack")),
            "415");
  EXPECT_TRUE(WaitForNoChildren(5s));
}

TEST_F(GitHttpHandlerTest, GarbageRequestsAre4xxNot500) {
  GitServer server;
  const std::string url = server.Url("/owner/repo.git/git-upload-pack");
  const fs::path req = g_root / "garbage.req";
  auto post = [&](const std::string& bytes, const std::string& extra_headers = "") {
    {
      std::ofstream out(req, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    std::string body;
    std::string status = CurlStatus(
        "-H 'Content-Type: application/x-git-upload-pack-request' " + extra_headers +
            "--data-binary @" + Quote(req.string()),
        url, &body);
    return std::make_pair(status, body);
  };
  std::string random_bytes;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245u + 12345u;
    random_bytes.push_back(static_cast<char>(x >> 24));
  }
  const std::vector<std::string> garbage = {
      "hello, upload-pack",                            // not pkt-lines at all
      random_bytes,                                    // binary noise
      "0032want 0123456789abcdef",                     // a pkt-line cut short
      Pkt("hello\n") + "0000",                         // framed, but not a request
      "0003",                                          // an impossible length
      "fff0" + std::string(100, 'x'),                  // a length beyond the data
      Pkt("") + Pkt("want x\n"),                       // an empty first line
  };
  for (const std::string& g : garbage) {
    auto [status, body] = post(g);
    EXPECT_EQ(status, "400") << g.substr(0, 40);
    EXPECT_NE(body.find("malformed upload-pack request"), std::string::npos) << body;
    auto [gz_status, gz_body] = post(Gzip(g), "-H 'Content-Encoding: gzip' ");
    EXPECT_EQ(gz_status, "400") << "gzip: " << g.substr(0, 40);
  }
  // Well-formed requests still reach git: v2 ls-refs, and an empty v0 negotiation.
  auto [v2_status, v2_body] =
      post(Pkt("command=ls-refs\n") + "0000", "-H 'Git-Protocol: version=2' ");
  EXPECT_EQ(v2_status, "200");
  EXPECT_NE(v2_body.find(" refs/heads/main\n"), std::string::npos) << v2_body;
  EXPECT_EQ(post("0000").first, "200");

  // Bad service parameters of info/refs are client errors too.
  for (const char* query : {"?service=git-upload-packx", "?service=git%00upload-pack",
                            "?service=%zz", "?service=git-upload-pack&service=x",
                            "?service=git-receive-pack%20"}) {
    std::string status = CurlStatus("", server.Url("/owner/repo.git/info/refs") + query);
    EXPECT_EQ(status[0], '4') << query << ": " << status;
  }
  EXPECT_TRUE(WaitForNoChildren(5s));
}

// git's failures go through the shared HttpErrorFor mapping: when git dies because the
// repository's disk is full, the client gets 503 + Retry-After (git clients retry it), not
// a 500 that blames the server's code; any other failure of git stays 500.
TEST_F(GitHttpHandlerTest, GitFailingOnAFullDiskIs503WithRetryAfter) {
  // git as it fails on a full disk: before writing anything, exit 128.
  const fs::path failing_git = g_root / "failing-git";
  {
    std::ofstream out(failing_git);
    out << "#!/bin/sh\necho 'fatal: unable to create temporary file: No space left on device' "
           ">&2\nexit 128\n";
  }
  fs::permissions(failing_git, fs::perms::owner_all);
  std::vector<fs::path> asked;
  GitHttpOptions options;
  options.git_binary = failing_git.string();
  options.disk_full = [&asked](const fs::path& dir) {
    asked.push_back(dir);
    return ErrnoStatus(ENOSPC, "file system of " + dir.string());
  };
  {
    GitServer server(options);
    const fs::path headers = g_root / "full-disk.headers";
    std::string status =
        CurlStatus("-D " + Quote(headers.string()),
                   server.Url("/owner/repo.git/info/refs?service=git-upload-pack"));
    EXPECT_EQ(status, "503");
    EXPECT_NE(ReadFile(headers).find("Retry-After: "), std::string::npos) << ReadFile(headers);
  }
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], g_root / "repos" / "owner" / "repo.git");

  options.disk_full = [](const fs::path&) { return Status::Ok(); };
  {
    GitServer server(options);
    EXPECT_EQ(CurlStatus("", server.Url("/owner/repo.git/info/refs?service=git-upload-pack")),
              "500");
  }
  // A git that cannot even be started is the server's fault too, not a missing page.
  options.git_binary = (g_root / "no-such-git").string();
  {
    GitServer server(options);
    EXPECT_EQ(CurlStatus("", server.Url("/owner/repo.git/info/refs?service=git-upload-pack")),
              "500");
  }
  // The real probe: the suite's own disk is not full.
  EXPECT_TRUE(RepoDiskFull(g_root).ok());
  EXPECT_TRUE(WaitForNoChildren(5s));
}

TEST_F(GitHttpHandlerTest, InflatedBodyOverCapIs413) {
  GitHttpOptions options;
  options.max_inflated_request_bytes = 64 * 1024;
  GitServer server(options);
  const fs::path req = g_root / "bomb.gz";
  {
    std::ofstream out(req, std::ios::binary);
    out << Gzip(Pkt("command=ls-refs\n") + std::string(1 << 20, '0'));
  }
  EXPECT_EQ(CurlStatus("-H 'Content-Type: application/x-git-upload-pack-request' "
                       "-H 'Content-Encoding: gzip' --data-binary @" +
                           Quote(req.string()),
                       server.Url("/owner/repo.git/git-upload-pack")),
            "413");
  EXPECT_TRUE(WaitForNoChildren(5s));
}

TEST_F(GitHttpHandlerTest, BodyOverRouteLimitIs413) {
  GitServer server({}, RouteOptions{.body_limit = 1024, .on_body_too_large = {}});
  const fs::path req = g_root / "large.req";
  {
    std::ofstream out(req, std::ios::binary);
    out << std::string(4096, 'x');
  }
  EXPECT_EQ(CurlStatus("-H 'Content-Type: application/x-git-upload-pack-request' "
                       "--data-binary @" +
                           Quote(req.string()),
                       server.Url("/owner/repo.git/git-upload-pack")),
            "413");
  EXPECT_EQ(server.resolver_calls.load(), 0);
}

TEST_F(GitHttpHandlerTest, ManyConcurrentClones) {
  GitServer server;
  std::vector<std::future<CmdResult>> clones;
  for (int i = 0; i < 8; ++i) {
    const std::string dst = (g_root / ("concurrent-" + std::to_string(i))).string();
    const std::string version = i % 2 == 0 ? "0" : "2";
    clones.push_back(std::async(std::launch::async, [&server, dst, version] {
      return Sh("git -c protocol.version=" + version + " clone -q " +
                Quote(server.Url("/owner/repo.git")) + " " + Quote(dst) + " && git -C " +
                Quote(dst) + " fsck --full && git -C " + Quote(dst) + " rev-parse HEAD");
    }));
  }
  const std::string head = ShOk("git -C " + Quote(Upstream()) + " rev-parse main").out;
  for (auto& f : clones) {
    CmdResult r = f.get();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, head);
  }
  for (int i = 0; i < 8; ++i) fs::remove_all(g_root / ("concurrent-" + std::to_string(i)));
  EXPECT_TRUE(WaitForNoChildren(5s));
}

// A client that disconnects mid-pack: git upload-pack is killed and reaped, no zombie
// and no descriptor is left, and the server keeps serving.
TEST_F(GitHttpHandlerTest, ClientDisconnectMidPackKillsGit) {
  GitServer server;
  ASSERT_TRUE(WaitForNoChildren(5s));
  const std::string big = (g_root / "repos" / "owner" / "big.git").string();
  const std::string oid = ShOk("git -C " + Quote(big) + " rev-parse main").out.substr(0, 40);
  const std::string body = Pkt("command=fetch\n") + "0001" + Pkt("want " + oid + "\n") +
                           Pkt("ofs-delta\n") + Pkt("done\n") + "0000";
  const std::string request =
      "POST /owner/big.git/git-upload-pack HTTP/1.1\r\nHost: t\r\n"
      "Content-Type: application/x-git-upload-pack-request\r\nGit-Protocol: version=2\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;

  int open_fds_before = 0;
  for (auto& e : fs::directory_iterator("/proc/self/fd")) (void)e, ++open_fds_before;

  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int small = 4096;  // keep the pack in the server's hands, not in our buffers
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string got;
  while (got.size() < 64 * 1024) {
    pollfd p{sock.get(), POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 10000), 0) << "no response";
    char buf[8192];
    ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_FALSE(ChildProcesses().empty()) << "git upload-pack should still be streaming";
  sock.reset();

  EXPECT_TRUE(WaitForNoChildren(10s)) << ChildProcesses().size() << " children left";
  // The pipes to git and the client's socket are closed (the server closes the socket
  // right after reaping git, so allow it a moment).
  auto count_fds = [] {
    int n = 0;
    for (auto& e : fs::directory_iterator("/proc/self/fd")) (void)e, ++n;
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_fds() > open_fds_before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LE(count_fds(), open_fds_before);

  // Still serving.
  std::string refs;
  EXPECT_EQ(CurlStatus("", server.Url("/owner/big.git/info/refs?service=git-upload-pack"), &refs),
            "200");
}

}  // namespace
}  // namespace mirrord
