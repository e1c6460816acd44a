// Helpers shared by the git/ unit tests: running the real git CLI, building upstream
// repositories, and a tiny HTTP server (plain sockets, one thread) that can front
// `git http-backend` as a CGI or misbehave on purpose (stall, truncate, 404, 401).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "tests/fixtures/temp_dir.h"

extern char** environ;

namespace mirrord::gittest {

namespace fs = std::filesystem;

struct CmdResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
};

// Runs argv (PATH lookup, no shell) with extra environment variables and stdin data,
// capturing stdout and stderr. The environment is ours plus a deterministic git identity.
inline CmdResult Run(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& extra_env = {},
                     const std::string& stdin_data = "") {
  CmdResult result;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    result.err = "pipe failed";
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env_map[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  env_map["GIT_CONFIG_NOSYSTEM"] = "1";
  env_map["GIT_CONFIG_GLOBAL"] = "/dev/null";
  env_map["GIT_AUTHOR_NAME"] = env_map["GIT_COMMITTER_NAME"] = "Test";
  env_map["GIT_AUTHOR_EMAIL"] = env_map["GIT_COMMITTER_EMAIL"] = "test@example.com";
  env_map["LC_ALL"] = "C";
  for (const auto& [k, v] : extra_env) env_map[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    result.err = "spawn " + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  int in_fd = in[1];
  size_t written = 0;
  if (stdin_data.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int out_fd = out[0], err_fd = err[0];
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      int& fd = i == 0 ? out_fd : err_fd;
      if (fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          ::close(fd);
          fd = -1;
        }
      }
    }
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = stdin_data.size();
      if (written == stdin_data.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Runs git; records a test failure (and returns stdout anyway) when it fails.
inline std::string Git(std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  CmdResult r = Run(args);
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    ADD_FAILURE() << cmd << "failed (exit " << r.exit_code << "): " << r.err;
  }
  return r.out;
}

inline std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// "<oid> <name>" lines of `git for-each-ref` in `git_dir`, without refs/mirrord/.
inline std::string ForEachRef(const fs::path& git_dir) {
  std::string out =
      Git({"--git-dir=" + git_dir.string(), "for-each-ref", "--format=%(objectname) %(refname)"});
  std::string filtered;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    std::string line = out.substr(start, nl - start);
    start = nl == std::string::npos ? out.size() : nl + 1;
    if (line.find(" refs/mirrord/") != std::string::npos) continue;
    filtered += line + "\n";
  }
  return filtered;
}

// A non-bare upstream repository built with the git CLI.
class Upstream {
 public:
  explicit Upstream(fs::path dir) : dir_(std::move(dir)) {
    Git({"init", "-q", "-b", "main", dir_.string()});
  }
  const fs::path& dir() const { return dir_; }
  fs::path git_dir() const { return dir_ / ".git"; }
  std::string file_url() const { return "file://" + dir_.string(); }

  // Writes `files` files of about `size` seeded random bytes and commits them on the
  // current branch. Returns the new commit.
  std::string Commit(const std::string& message, int files = 1, size_t size = 64) {
    for (int i = 0; i < files; ++i) {
      std::string content;
      content.reserve(size);
      for (size_t j = 0; j < size; ++j) content += static_cast<char>('a' + rng_() % 26);
      std::ofstream(dir_ / ("f" + std::to_string(counter_++) + ".txt")) << content;
    }
    G({"add", "-A"});
    G({"commit", "-q", "-m", message});
    return Head();
  }
  std::string Head() { return Trim(G({"rev-parse", "HEAD"})); }
  std::string G(std::vector<std::string> args) {
    args.insert(args.begin(), {"-C", dir_.string()});
    return Git(std::move(args));
  }
  // Refs a mirror of this upstream should publish (heads and tags).
  std::string PublishableRefs() const {
    return Git({"--git-dir=" + git_dir().string(), "for-each-ref",
                "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"});
  }

 private:
  fs::path dir_;
  std::mt19937 rng_{42};
  int counter_ = 0;
};

// A one-thread HTTP/1.1 server on 127.0.0.1 for transport tests. Each connection carries
// one request; the handler writes the whole response and the server closes the connection.
class TestHttpServer {
 public:
  struct Request {
    std::string method;
    std::string path;                            // without the query
    std::string query;                           // without '?'
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };
  // Writes the response to `fd`. `stop_fd` becomes readable when the server shuts down
  // (handlers that stall wait on it).
  using Handler = std::function<void(int fd, const Request& request, int stop_fd)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "bind/listen: " << std::strerror(errno);
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe";
    stop_read_ = p[0];
    stop_write_ = p[1];
    thread_ = std::thread([this] { Loop(); });
  }
  ~TestHttpServer() {
    ::close(stop_write_);  // makes stop_read_ readable (EOF) for the loop and handlers
    thread_.join();
    ::close(stop_read_);
    ::close(listen_fd_);
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static void Send(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  static void SendResponse(int fd, int status, const std::string& reason,
                           const std::string& content_type, const std::string& body) {
    Send(fd, "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " +
                 content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nConnection: close\r\n\r\n" + body);
  }
  static void WaitForStop(int stop_fd) {
    pollfd p{stop_fd, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
  }

 private:
  void Loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_read_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Request request;
      if (ReadRequest(fd, &request)) {
        {
          std::lock_guard lock(mu_);
          requests_.push_back(request);
        }
        handler_(fd, request, stop_read_);
      }
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
  }

  bool ReadRequest(int fd, Request* r) {
    std::string data;
    char buf[8192];
    size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadSome(fd, buf, sizeof buf, &data)) return false;
    }
    std::string head = data.substr(0, head_end);
    std::string rest = data.substr(head_end + 4);
    size_t line_end = head.find("\r\n");
    std::string request_line = head.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.find(' ', sp1 + 1);
    r->method = request_line.substr(0, sp1);
    std::string target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t q = target.find('?');
    r->path = target.substr(0, q);
    r->query = q == std::string::npos ? "" : target.substr(q + 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      pos = e + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r->headers[name] = value;
    }
    size_t length = 0;
    if (auto it = r->headers.find("content-length"); it != r->headers.end()) {
      length = std::stoul(it->second);
    }
    while (rest.size() < length) {
      if (!ReadSome(fd, buf, sizeof buf, &rest)) return false;
    }
    r->body = rest.substr(0, length);
    return true;
  }

  bool ReadSome(int fd, char* buf, size_t size, std::string* into) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_, POLLIN, 0}};
    if (::poll(fds, 2, 10'000) <= 0 || fds[1].revents != 0) return false;
    ssize_t n = ::recv(fd, buf, size, 0);
    if (n <= 0) return false;
    into->append(buf, static_cast<size_t>(n));
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int stop_read_ = -1;
  int stop_write_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

// The output of `git http-backend` for a request, as status + headers + body.
struct CgiResponse {
  int status = 200;
  std::string reason = "OK";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};

// Runs `git http-backend` for `request` with GIT_PROJECT_ROOT=`root`.
inline CgiResponse RunHttpBackend(const fs::path& root, const TestHttpServer::Request& request) {
  std::map<std::string, std::string> env = {
      {"GIT_PROJECT_ROOT", root.string()}, {"GIT_HTTP_EXPORT_ALL", "1"},
      {"PATH_INFO", request.path},         {"QUERY_STRING", request.query},
      {"REQUEST_METHOD", request.method},  {"CONTENT_LENGTH", std::to_string(request.body.size())},
      {"REMOTE_ADDR", "127.0.0.1"},        {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"GATEWAY_INTERFACE", "CGI/1.1"},
  };
  if (auto it = request.headers.find("content-type"); it != request.headers.end()) {
    env["CONTENT_TYPE"] = it->second;
  }
  CmdResult r = Run({"git", "http-backend"}, env, request.body);
  CgiResponse out;
  size_t sep = r.out.find("\r\n\r\n");
  size_t sep_len = 4;
  if (sep == std::string::npos) {
    sep = r.out.find("\n\n");
    sep_len = 2;
  }
  if (sep == std::string::npos) {
    out.status = 500;
    out.reason = "Internal Server Error";
    out.body = r.err;
    return out;
  }
  std::string head = r.out.substr(0, sep);
  out.body = r.out.substr(sep + sep_len);
  size_t pos = 0;
  while (pos <= head.size()) {
    size_t e = head.find('\n', pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    pos = e + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.rfind("Status:", 0) == 0) {
      std::string v = line.substr(7);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      out.status = std::stoi(v.substr(0, 3));
      out.reason = v.size() > 4 ? v.substr(4) : "";
      continue;
    }
    out.headers.push_back(line);
  }
  return out;
}

// Writes `cgi` as an HTTP response; with `body_limit` < body size, sends only that much of
// the body and then calls `after_partial` (which may stall or just return to truncate).
inline void SendCgiResponse(int fd, const CgiResponse& cgi, size_t body_limit = std::string::npos,
                            const std::function<void()>& after_partial = nullptr) {
  std::string head = "HTTP/1.1 " + std::to_string(cgi.status) + " " + cgi.reason + "\r\n";
  for (const std::string& h : cgi.headers) head += h + "\r\n";
  head += "Content-Length: " + std::to_string(cgi.body.size()) + "\r\nConnection: close\r\n\r\n";
  TestHttpServer::Send(fd, head);
  if (body_limit >= cgi.body.size()) {
    TestHttpServer::Send(fd, cgi.body);
    return;
  }
  TestHttpServer::Send(fd, std::string_view(cgi.body).substr(0, body_limit));
  if (after_partial) after_partial();
}

// A test upstream (file:// URL) and an empty mirror at <tmp>/mirrors/org/repo.git.
class MirrorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-git-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    upstream_ = std::make_unique<Upstream>(tmp_->path() / "upstream");
    mirror_ = tmp_->path() / "mirrors" / "org" / "repo.git";
    ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror_).ok());
  }

  // Heads and tags, as a mirror is usually configured.
  FetchOptions Options() const {
    FetchOptions o;
    o.url = upstream_->file_url();
    o.refspecs = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    return o;
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<Upstream> upstream_;
  fs::path mirror_;
};

}  // namespace mirrord::gittest
