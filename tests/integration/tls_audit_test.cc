// TLS on mirrord's listener, the plain listener beside it, the admin API on its own listener
// (TCP or Unix socket) and the audit log, as real clients see them: git and git-lfs over
// https with a lab CA (GIT_SSL_CAINFO), skopeo with --cert-dir, mirrorctl with --cacert /
// $MIRRORD_CA_FILE and unix:, `openssl s_client` for the certificate a reload installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_ca.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "org/alpha";
constexpr auto kWait = std::chrono::seconds(60);

std::string PointerText(const std::string& oid, uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize " +
         std::to_string(size) + "\n";
}

// The URL in mirrord's "<what> at URL" start-up line.
Result<std::string> UrlFromLine(ChildProcess& process, std::string_view what) {
  ASSIGN_OR_RETURN(std::string line, process.WaitForLineContaining(what, kWait));
  size_t at = line.find(what);
  std::string url = line.substr(at + what.size());
  while (!url.empty() && (url.back() == ' ' || url.back() == '\r')) url.pop_back();
  return url;
}

// The access log's lines, each parsed; a line that is not a JSON object fails the test.
std::vector<json::object> ReadAuditLines(const std::filesystem::path& file) {
  std::vector<json::object> out;
  Result<std::string> text = ReadFileToString(file);
  if (!text.ok()) return out;
  size_t start = 0;
  while (start < text->size()) {
    size_t nl = text->find('\n', start);
    if (nl == std::string::npos) break;  // a line still being written
    std::string line = text->substr(start, nl - start);
    start = nl + 1;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    EXPECT_FALSE(ec) << "not JSON: " << line;
    if (!ec && v.is_object()) out.push_back(v.as_object());
  }
  return out;
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "<missing>";
}
int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

class TlsListeners : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("tls-audit-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK(CreateDirectories(dir_->path() / "ca"));
    ASSERT_OK_AND_ASSIGN(TestCa ca, TestCa::Create(dir_->path() / "ca"));
    ca_.emplace(std::move(ca));
    ASSERT_OK_AND_ASSIGN(TestServerCert first, ca_->IssueServerCert("first", 0x1001));
    // mirrord reads these paths; a test replaces their content to rotate the certificate.
    cert_ = dir_->path() / "server.crt";
    key_ = dir_->path() / "server.key";
    std::filesystem::copy_file(first.cert, cert_);
    std::filesystem::copy_file(first.key, key_);
    access_log_ = dir_->path() / "access.log";

    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.WriteFile(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n"));
    ASSERT_OK(work.WriteFile("README.md", "# alpha\n"));
    ASSERT_OK_AND_ASSIGN(oid_, lfs_->PutGeneratedObject(kObjectSize, 7));
    ASSERT_OK(work.WriteFile("model.bin", PointerText(oid_, kObjectSize)));
    ASSERT_OK(work.Commit("weights").status());
    ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo(kRepo));
    GitOptions push;
    push.env["GIT_LFS_SKIP_PUSH"] = "1";
    ASSERT_OK(work.PushMirror(bare.string(), push));
  }

  // Starts mirrord with TLS on `listen`, a plain listener, the access log and [admin]
  // listen = `admin_listen` ("" : none), then syncs kRepo through the admin API.
  void StartMirrord(std::string admin_listen) {
    MirrordOptions o;
    o.server_toml = "tls_cert = \"" + cert_.string() + "\"\ntls_key = \"" + key_.string() +
                    "\"\nplain_listen = \"127.0.0.1:0\"\naccess_log = \"" + access_log_.string() +
                    "\"\n";
    o.extra_toml = "[sync]\nmaintenance = false\n";
    if (!admin_listen.empty()) o.extra_toml += "\n[admin]\nlisten = \"" + admin_listen + "\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_EQ(mirrord_->BaseUrl().rfind("https://", 0), 0u) << mirrord_->BaseUrl();
    ASSERT_OK_AND_ASSIGN(plain_url_,
                         UrlFromLine(*mirrord_->process(), "plain HTTP also served at "));
    if (!admin_listen.empty()) {
      ASSERT_OK_AND_ASSIGN(admin_url_, UrlFromLine(*mirrord_->process(), "admin API served at "));
    }
    ASSERT_OK_AND_ASSIGN(ProcessResult r,
                         Ctl({"sync", std::string(kRepo), "--url", upstream_->UrlFor(kRepo)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  // mirrorctl against the admin API (its own listener when there is one), trusting the CA.
  Result<ProcessResult> Ctl(std::vector<std::string> args) {
    std::vector<std::string> full = {"--server",
                                     admin_url_.empty() ? mirrord_->BaseUrl() : admin_url_,
                                     "--cacert", ca_->ca_cert().string()};
    full.insert(full.end(), args.begin(), args.end());
    return mirrord_->Mirrorctl(full);
  }

  GitOptions TrustingCa() const {
    GitOptions o;
    o.env["GIT_SSL_CAINFO"] = ca_->ca_cert().string();
    return o;
  }

  // Clones kRepo from `base` and pulls its LFS object; the file must be the upstream's.
  void CloneAndPull(const std::string& base, const std::string& name) {
    std::filesystem::path dest = dir_->path() / name;
    GitOptions o = TrustingCa();
    o.env["GIT_LFS_SKIP_SMUDGE"] = "1";
    ASSERT_OK(
        Git({"clone", "--quiet", base + "/" + std::string(kRepo) + ".git", dest.string()}, {}, o)
            .status());
    ASSERT_OK(Git({"lfs", "pull"}, dest, TrustingCa()).status());
    ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(oid_)));
    ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dest / "model.bin"));
    EXPECT_TRUE(got == want) << "model.bin differs from the upstream's object";
  }

  // Sends `signal` and waits for a mirrord line containing `needle` after the current ones.
  Result<std::string> SignalAndWait(int signal, std::string_view needle) {
    const size_t from = mirrord_->process()->StderrLineCount();
    RETURN_IF_ERROR(mirrord_->process()->Kill(signal));
    return mirrord_->process()->WaitForLineContaining(needle, kWait, from);
  }

  static constexpr uint64_t kObjectSize = 300 << 10;
  std::optional<TempDir> dir_;
  std::optional<TestCa> ca_;
  std::filesystem::path cert_, key_, access_log_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::string oid_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string plain_url_;
  std::string admin_url_;
};

TEST_F(TlsListeners, GitAndLfsOverHttpsWithTheLabCaAndPlainBeside) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord("127.0.0.1:0"));
  ASSERT_NO_FATAL_FAILURE(CloneAndPull(mirrord_->BaseUrl(), "https-clone"));
  ASSERT_NO_FATAL_FAILURE(CloneAndPull(plain_url_, "plain-clone"));
  // Without the CA git refuses the certificate.
  Result<std::string> untrusted =
      Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), (dir_->path() / "untrusted").string()});
  EXPECT_FALSE(untrusted.ok());
}

TEST_F(TlsListeners, PlainHttpSpokenToTheTlsPortIsClosedWithoutAnAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  HttpCall call;
  call.timeout = std::chrono::seconds(30);
  Result<HttpReply> reply =
      HttpFetch("http://127.0.0.1:" + std::to_string(mirrord_->port()) + "/healthz", call);
  EXPECT_FALSE(reply.ok()) << "HTTP " << reply->status << ": " << reply->body;
  // The same request over TLS works, and plain HTTP on the plain listener.
  ASSERT_OK_AND_ASSIGN(std::string body,
                       RunProcessOk({"curl", "-sS", "--cacert", ca_->ca_cert().string(),
                                     mirrord_->BaseUrl() + "/healthz"}));
  EXPECT_EQ(body, "ok\n");
  ASSERT_OK_AND_ASSIGN(HttpReply plain, HttpFetch(plain_url_ + "/healthz"));
  EXPECT_EQ(plain.status, 200);
}

TEST_F(TlsListeners, OldTlsVersionsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       RunProcess({"curl", "-sS", "--cacert", ca_->ca_cert().string(), "--tlsv1.1",
                                   "--tls-max", "1.1", mirrord_->BaseUrl() + "/healthz"}));
  EXPECT_FALSE(r.ok()) << r.stdout_text;
}

TEST_F(TlsListeners, CertificateReloadedOnSighupAndABadOneKeepsTheOld) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  ASSERT_OK_AND_ASSIGN(std::string before, PresentedSerial(mirrord_->port()));
  EXPECT_EQ(before, "0x1001");

  ASSERT_OK_AND_ASSIGN(TestServerCert second, ca_->IssueServerCert("second", 0x2002));
  std::filesystem::copy_file(second.cert, cert_, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(second.key, key_, std::filesystem::copy_options::overwrite_existing);
  ASSERT_OK(SignalAndWait(SIGHUP, "configuration reloaded").status());
  ASSERT_OK_AND_ASSIGN(std::string after, PresentedSerial(mirrord_->port()));
  EXPECT_EQ(after, "0x2002");

  ASSERT_OK(WriteFileAtomically(cert_, "not a certificate\n"));
  ASSERT_OK_AND_ASSIGN(std::string line,
                       SignalAndWait(SIGHUP, "TLS certificate not replaced, keeping the running"));
  EXPECT_THAT(line, HasSubstr(cert_.string()));
  ASSERT_OK_AND_ASSIGN(std::string kept, PresentedSerial(mirrord_->port()));
  EXPECT_EQ(kept, "0x2002");
  ASSERT_NO_FATAL_FAILURE(CloneAndPull(mirrord_->BaseUrl(), "after-bad-reload"));
}

TEST_F(TlsListeners, SkopeoTrustsTheCertDir) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  std::filesystem::path certs = dir_->path() / "skopeo-certs";
  ASSERT_OK(CreateDirectories(certs));
  std::filesystem::copy_file(ca_->ca_cert(), certs / "ca.crt");
  const std::string ref = "docker://127.0.0.1:" + std::to_string(mirrord_->port()) + "/org/none:1";
  // With the CA the TLS session works and the registry answers (the image does not exist).
  ASSERT_OK_AND_ASSIGN(ProcessResult trusted,
                       RunProcess({"skopeo", "inspect", "--cert-dir", certs.string(), ref}));
  EXPECT_FALSE(trusted.ok());
  EXPECT_THAT(trusted.stderr_text, Not(HasSubstr("x509")));
  EXPECT_THAT(trusted.stderr_text, Not(HasSubstr("certificate")));
  // Without it skopeo refuses the certificate.
  std::filesystem::path empty = dir_->path() / "no-certs";
  ASSERT_OK(CreateDirectories(empty));
  ASSERT_OK_AND_ASSIGN(ProcessResult untrusted,
                       RunProcess({"skopeo", "inspect", "--cert-dir", empty.string(), ref}));
  EXPECT_FALSE(untrusted.ok());
  EXPECT_THAT(untrusted.stderr_text, HasSubstr("certificate"));
}

TEST_F(TlsListeners, AdminApiOnItsOwnListenerOnly) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord("127.0.0.1:0"));
  ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
  // With the token on the admin listener.
  ASSERT_OK_AND_ASSIGN(ProcessResult list, Ctl({"list", "--json"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_THAT(list.stdout_text, HasSubstr(std::string(kRepo)));
  HttpCall with_token;
  with_token.headers = {{"Authorization", "Bearer " + token}};
  ASSERT_OK_AND_ASSIGN(HttpReply admin_ok, HttpFetch(admin_url_ + "/api/v1/repos", with_token));
  EXPECT_EQ(admin_ok.status, 200);
  // Without it: 401.
  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, HttpFetch(admin_url_ + "/api/v1/repos"));
  EXPECT_EQ(anonymous.status, 401);
  // Not routed on the public listeners at all, token or not.
  ASSERT_OK_AND_ASSIGN(HttpReply plain, HttpFetch(plain_url_ + "/api/v1/repos", with_token));
  EXPECT_EQ(plain.status, 404);
  ASSERT_OK_AND_ASSIGN(
      std::string code,
      RunProcessOk({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                    ca_->ca_cert().string(), "-H", "Authorization: Bearer " + token,
                    mirrord_->BaseUrl() + "/api/v1/repos"}));
  EXPECT_EQ(code, "404");
}

TEST_F(TlsListeners, AdminApiOnAUnixSocket) {
  const std::filesystem::path socket = dir_->path() / "admin.sock";
  ASSERT_NO_FATAL_FAILURE(StartMirrord("unix:" + socket.string()));
  EXPECT_EQ(admin_url_, "unix:" + socket.string());
  ASSERT_OK_AND_ASSIGN(ProcessResult list, Ctl({"list", "--json"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_THAT(list.stdout_text, HasSubstr(std::string(kRepo)));
  ASSERT_OK_AND_ASSIGN(
      std::string code,
      RunProcessOk({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket",
                    socket.string(), "http://localhost/api/v1/repos"}));
  EXPECT_EQ(code, "401");
  ASSERT_OK_AND_ASSIGN(HttpReply plain, HttpFetch(plain_url_ + "/api/v1/repos"));
  EXPECT_EQ(plain.status, 404);
}

TEST_F(TlsListeners, MirrorctlTrustsTheCaFromFlagOrEnvironmentOnly) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  ASSERT_OK_AND_ASSIGN(ProcessResult with_flag, Ctl({"list"}));
  EXPECT_TRUE(with_flag.ok()) << with_flag.Describe();
  // No CA: the certificate is not trusted (mirrorctl's "cannot reach" exit code, 3).
  ASSERT_OK_AND_ASSIGN(ProcessResult without,
                       mirrord_->Mirrorctl({"--server", mirrord_->BaseUrl(), "list"}));
  EXPECT_FALSE(without.ok());
  EXPECT_THAT(without.stderr_text, HasSubstr("cannot reach mirrord"));
  // $MIRRORD_CA_FILE.
  ProcessOptions env;
  env.env["MIRRORD_CA_FILE"] = ca_->ca_cert().string();
  ASSERT_OK_AND_ASSIGN(
      ProcessResult with_env,
      RunProcess({MirrordProcess::DefaultMirrorctlBinary().string(), "--config",
                  mirrord_->config_path().string(), "--server", mirrord_->BaseUrl(), "list"},
                 env));
  EXPECT_TRUE(with_env.ok()) << with_env.Describe();
}

TEST_F(TlsListeners, AuditLogHasALinePerRequestOfEachKind) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord("127.0.0.1:0"));
  ASSERT_NO_FATAL_FAILURE(CloneAndPull(mirrord_->BaseUrl(), "audited"));
  ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
  HttpCall admin;
  admin.headers = {{"Authorization", "Bearer " + token}};
  ASSERT_OK(HttpFetch(admin_url_ + "/api/v1/repos", admin).status());
  ASSERT_OK(HttpFetch(plain_url_ + "/api/models/org/alpha").status());
  ASSERT_OK(HttpFetch(plain_url_ + "/v2/").status());
  ASSERT_OK(HttpFetch(plain_url_ + "/healthz?secret=hunter2").status());
  // Hostile (within what HTTP lets through to the server): quotes, a backslash, a tab,
  // bytes that are not UTF-8, and far too long.
  HttpCall hostile;
  const std::string evil = "\"},{\"status\":999,\\ \t\xff\xfe" + std::string(3000, 'A');
  hostile.headers = {{"User-Agent", evil}};
  ASSERT_OK(HttpFetch(plain_url_ + "/readyz", hostile).status());

  std::vector<json::object> lines;
  auto has = [&](auto pred) {
    for (const json::object& o : lines) {
      if (pred(o)) return true;
    }
    return false;
  };
  ASSERT_TRUE(PollUntil(
      [&] {
        lines = ReadAuditLines(access_log_);
        return has([](const json::object& o) { return Str(o, "path") == "/readyz"; });
      },
      kWait))
      << "no /readyz line in " << access_log_;

  const std::regex time_re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  for (const json::object& o : lines) {
    EXPECT_TRUE(std::regex_match(Str(o, "time"), time_re)) << json::serialize(o);
    for (std::string_view key : {"client", "token", "method", "path", "repo", "user_agent"}) {
      EXPECT_TRUE(o.contains(key) && o.at(key).is_string()) << key << ": " << json::serialize(o);
    }
    for (std::string_view key : {"status", "bytes"}) {
      EXPECT_TRUE(o.contains(key) && o.at(key).is_int64()) << key << ": " << json::serialize(o);
    }
    EXPECT_TRUE(o.contains("duration_ms") && o.at("duration_ms").is_number());
  }
  const std::string repo(kRepo);
  EXPECT_TRUE(has([&](const json::object& o) {  // git smart HTTP over TLS
    return Str(o, "method") == "GET" && Str(o, "path") == "/" + repo + ".git/info/refs" &&
           Str(o, "repo") == repo && Int(o, "status") == 200 && Int(o, "bytes") > 0 &&
           Str(o, "client") == "127.0.0.1" && Str(o, "user_agent").rfind("git/", 0) == 0 &&
           Str(o, "token").empty();
  }));
  EXPECT_TRUE(has([&](const json::object& o) {  // git upload-pack
    return Str(o, "method") == "POST" && Str(o, "path") == "/" + repo + ".git/git-upload-pack" &&
           Str(o, "repo") == repo && Int(o, "status") == 200;
  }));
  EXPECT_TRUE(has([&](const json::object& o) {  // LFS batch
    return Str(o, "method") == "POST" &&
           Str(o, "path") == "/" + repo + ".git/info/lfs/objects/batch" && Str(o, "repo") == repo &&
           Int(o, "status") == 200 && Str(o, "user_agent").rfind("git-lfs/", 0) == 0;
  }));
  EXPECT_TRUE(has([&](const json::object& o) {  // LFS object download
    return Str(o, "method") == "GET" &&
           Str(o, "path") == "/" + repo + ".git/info/lfs/objects/" + oid_ &&
           Str(o, "repo") == repo && Int(o, "status") == 200 &&
           Int(o, "bytes") == static_cast<int64_t>(kObjectSize);
  }));
  EXPECT_TRUE(has([&](const json::object& o) {  // admin API on its own listener
    return Str(o, "path") == "/api/v1/repos" && Int(o, "status") == 200;
  }));
  EXPECT_TRUE(
      has([&](const json::object& o) { return Str(o, "path") == "/api/models/org/alpha"; }));
  EXPECT_TRUE(has([&](const json::object& o) { return Str(o, "path") == "/v2/"; }));
  // The query string is never logged.
  EXPECT_TRUE(has([&](const json::object& o) { return Str(o, "path") == "/healthz"; }));
  ASSERT_OK_AND_ASSIGN(std::string raw, ReadFileToString(access_log_));
  EXPECT_THAT(raw, Not(HasSubstr("hunter2")));
  // The hostile user agent: one line of valid JSON (checked above), bounded, not a field.
  bool found = false;
  for (const json::object& o : lines) {
    if (Str(o, "path") != "/readyz") continue;
    found = true;
    std::string ua = Str(o, "user_agent");
    // 256 bytes logged; \xff and \xfe (escaped as \u00ff, \u00fe) decode to 2 bytes each.
    EXPECT_EQ(ua.size(), 256u + 2);
    EXPECT_EQ(ua.rfind("\"},{\"status\":999,\\ ", 0), 0u) << ua;
    EXPECT_EQ(Int(o, "status"), 200);
  }
  EXPECT_TRUE(found);
  EXPECT_THAT(raw, Not(HasSubstr("\t\xff\xfe")));  // escaped, never raw
}

TEST_F(TlsListeners, AuditLogReopenedOnSigusr1AfterRename) {
  ASSERT_NO_FATAL_FAILURE(StartMirrord(""));
  ASSERT_OK(HttpFetch(plain_url_ + "/healthz?before").status());
  ASSERT_TRUE(PollUntil([&] { return ReadAuditLines(access_log_).size() >= 1; }, kWait));
  const std::filesystem::path rotated = access_log_.string() + ".1";
  std::filesystem::rename(access_log_, rotated);
  // Until the signal, lines still go to the renamed file.
  ASSERT_OK(HttpFetch(plain_url_ + "/readyz").status());
  ASSERT_TRUE(PollUntil(
      [&] {
        for (const json::object& o : ReadAuditLines(rotated)) {
          if (Str(o, "path") == "/readyz") return true;
        }
        return false;
      },
      kWait));
  ASSERT_OK(SignalAndWait(SIGUSR1, "access log: reopened").status());
  ASSERT_OK(HttpFetch(plain_url_ + "/metrics").status());
  std::vector<json::object> fresh;
  ASSERT_TRUE(PollUntil(
      [&] {
        fresh = ReadAuditLines(access_log_);
        return !fresh.empty();
      },
      kWait));
  EXPECT_EQ(Str(fresh.back(), "path"), "/metrics");
  for (const json::object& o : ReadAuditLines(rotated)) {
    EXPECT_NE(Str(o, "path"), "/metrics");
  }
}

}  // namespace
}  // namespace mirrord::test
