#include "common/config.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(ConfigTest, DefaultsHaveGithubAndHfUpstreams) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.storage_root, "./var/mirrord");
  ASSERT_TRUE(c.upstreams.contains("github"));
  ASSERT_TRUE(c.upstreams.contains("hf"));
  auto url = ResolveUpstreamUrl(c, "hf", "THUDM/chatglm3-6b");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://huggingface.co/THUDM/chatglm3-6b");
  url = ResolveUpstreamUrl(c, "github", "THUDM/chatglm3-6b");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://github.com/THUDM/chatglm3-6b.git");
}

TEST(ConfigTest, EmptyFileGivesDefaultsWithTokenUnderRoot) {
  auto c = ParseConfig("", "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->admin_token_file, std::filesystem::path("./var/mirrord/admin.token"));
}

TEST(ConfigTest, FullConfigParses) {
  auto c = ParseConfig(R"(
[server]
listen = "0.0.0.0:9090"
read_timeout = "45s"
log_level = "debug"
[storage]
root = "/srv/mirrord"
[sync]
stall_timeout = "2m"
concurrency = 8
refspecs = ["+refs/heads/*", "+refs/tags/*", "+refs/pull/*/head"]
[upstreams.internal]
url = "https://git.lab/{repo}.git"
token_file = "/etc/mirrord/internal.token"
[[repos]]
name = "THUDM/GLM-4-Vision"
poll_interval = "5m"
[[repos]]
name = "hf/THUDM/chatglm3-6b"
upstream = "hf"
path = "THUDM/chatglm3-6b"
[[repos]]
name = "x/y"
url = "https://example.com/x/y.git"
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 9090);
  EXPECT_EQ(c->read_timeout, std::chrono::seconds(45));
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->admin_token_file, std::filesystem::path("/srv/mirrord/admin.token"));
  EXPECT_EQ(c->stall_timeout, std::chrono::seconds(120));
  EXPECT_EQ(c->sync_concurrency, 8);
  EXPECT_EQ(c->refspecs.size(), 3u);
  ASSERT_EQ(c->repos.size(), 3u);
  EXPECT_EQ(c->repos[0].upstream, "github");
  EXPECT_EQ(c->repos[0].path, "THUDM/GLM-4-Vision");
  EXPECT_EQ(c->repos[0].poll_interval, std::chrono::seconds(300));
  auto url = ResolveUpstreamUrl(*c, c->repos[1]);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://huggingface.co/THUDM/chatglm3-6b");
  url = ResolveUpstreamUrl(*c, c->repos[2]);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "https://example.com/x/y.git");
  EXPECT_EQ(c->upstreams.at("internal").token_file, "/etc/mirrord/internal.token");
}

struct BadConfigCase {
  const char* toml;
  const char* expected_fragment;
};

class BadConfigTest : public testing::TestWithParam<BadConfigCase> {};

TEST_P(BadConfigTest, OneClearLineNamingTheKey) {
  auto c = ParseConfig(GetParam().toml, "bad.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  const std::string m = c.status().message();
  EXPECT_NE(m.find(GetParam().expected_fragment), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.rfind("bad.toml", 0), 0u) << m;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfigTest,
    testing::Values(
        BadConfigCase{"[server]\nlisten = \"localhost\"\n", "[server] listen: expected HOST:PORT"},
        BadConfigCase{"[server]\nlisten = \"a:99999\"\n", "[server] listen"},
        BadConfigCase{"[server]\nlisten = 8080\n", "[server] listen: expected a string"},
        BadConfigCase{"[server]\nlisen = \"a:1\"\n", "[server] lisen: unknown key"},
        BadConfigCase{"[sync]\nstall_timeout = \"5 minutes\"\n", "[sync] stall_timeout"},
        BadConfigCase{"[sync]\nconcurrency = 0\n", "[sync] concurrency: must be between"},
        BadConfigCase{"[sync]\nrefspecs = [\"+refs/../x\"]\n", "invalid refspec"},
        BadConfigCase{"[upstreams.x]\nurl = \"https://x/\"\n",
                      "[upstreams.x] url: must contain {repo}"},
        BadConfigCase{"[upstreams.x]\nurl = \"ftp://x/{repo}\"\n", "must start with http"},
        BadConfigCase{"[[repos]]\nname = \"../etc\"\n", "[repos #1] name"},
        BadConfigCase{"[[repos]]\nname = \"a/b\"\nupstream = \"nope\"\n", "unknown upstream"},
        BadConfigCase{"[[repos]]\nname = \"a/b\"\n[[repos]]\nname = \"a/b\"\n", "appears twice"},
        BadConfigCase{"[[repos]]\nname = \"a/b\"\nupstream = \"hf\"\nurl = \"https://x\"\n",
                      "either upstream or url"},
        BadConfigCase{"[lfs]\nhistory = \"some\"\n", "[lfs] history: expected \"tips\" or \"all\""},
        BadConfigCase{"[lfs]\nconnections = 0\n", "[lfs] connections: must be between"},
        BadConfigCase{"[lfs]\nexclude = [\"\"]\n", "[lfs] exclude: path globs must not be empty"},
        BadConfigCase{"[lfs]\nlfs_include = []\n", "[lfs] lfs_include: unknown key"},
        BadConfigCase{"[[repos]]\nname = \"a/b\"\nlfs_exclude = \"*.bin\"\n",
                      "[repos #1] lfs_exclude"},
        BadConfigCase{"[server]\npublic_url = \"mirror.lab\"\n", "[server] public_url"},
        BadConfigCase{"[server]\npublic_url = \"https://u@mirror.lab\"\n", "user information"},
        BadConfigCase{"[server]\npublic_url = \"https://mirror.lab/?x\"\n", "query"},
        BadConfigCase{"[server]\nmax_connections = 0\n", "[server] max_connections"},
        BadConfigCase{"[server]\nmax_connections = 10\nmax_connections_per_client = 11\n",
                      "[server] max_connections_per_client: must not exceed"},
        BadConfigCase{"[server]\nrequest_timeout = \"soon\"\n", "[server] request_timeout"},
        BadConfigCase{"[server]\nmin_transfer_rate = -1\n", "[server] min_transfer_rate"},
        BadConfigCase{"[server]\nbody_memory_budget = 1000\n", "[server] body_memory_budget"},
        BadConfigCase{"[server\n", "bad.toml:1:"},
        BadConfigCase{"colour = 1\n", "colour: unknown key"}));

TEST(ConfigTest, LfsDefaultsAndPerRepoPolicies) {
  auto c = ParseConfig(R"(
[lfs]
exclude = ["*.bin"]
connections = 4
concurrent_objects = 2
per_host_connections = 6
verify_retries = 1
pull_through_timeout = "5m"
[[repos]]
name = "org/plain"
[[repos]]
name = "org/everything"
lfs_history = "all"
lfs_exclude = []
[[repos]]
name = "org/code-only"
lfs = false
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->lfs.connections, 4);
  EXPECT_EQ(c->lfs.concurrent_objects, 2);
  EXPECT_EQ(c->lfs.per_host_connections, 6);
  EXPECT_EQ(c->lfs.verify_retries, 1);
  EXPECT_EQ(c->lfs.pull_through_timeout, std::chrono::minutes(5));
  EXPECT_EQ(c->LfsStoreDir(), std::filesystem::path("./var/mirrord/lfs"));
  // A repo without lfs keys follows [lfs]; one with keys starts from [lfs] and overrides.
  const LfsPolicy& plain = c->LfsPolicyFor("org/plain");
  EXPECT_TRUE(plain.enabled);
  EXPECT_FALSE(plain.all_history);
  EXPECT_EQ(plain.exclude, std::vector<std::string>{"*.bin"});
  const LfsPolicy& everything = c->LfsPolicyFor("org/everything");
  EXPECT_TRUE(everything.all_history);
  EXPECT_TRUE(everything.exclude.empty());
  EXPECT_FALSE(c->LfsPolicyFor("org/code-only").enabled);
  EXPECT_EQ(c->LfsPolicyFor("org/code-only").exclude, std::vector<std::string>{"*.bin"});
  // A repo registered by mirrorctl alone gets the defaults.
  EXPECT_EQ(&c->LfsPolicyFor("org/unknown"), &c->lfs.policy);
}

TEST(ConfigTest, ServerLimits) {
  auto d = ParseConfig("", "t.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->public_url, "");
  EXPECT_EQ(d->max_connections, 1024u);
  EXPECT_EQ(d->max_connections_per_client, 128u);
  EXPECT_EQ(d->request_timeout, std::chrono::seconds(60));
  EXPECT_EQ(d->min_transfer_rate, 1024u);
  EXPECT_EQ(d->body_memory_budget, 256ull << 20);
  auto c = ParseConfig(R"(
[server]
public_url = "https://mirror.lab.example/models//"
max_connections = 300
max_connections_per_client = 20
request_timeout = "2m"
min_transfer_rate = 0
body_memory_budget = 67108864
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->public_url, "https://mirror.lab.example/models");
  EXPECT_EQ(c->max_connections, 300u);
  EXPECT_EQ(c->max_connections_per_client, 20u);
  EXPECT_EQ(c->request_timeout, std::chrono::seconds(120));
  EXPECT_EQ(c->min_transfer_rate, 0u);
  EXPECT_EQ(c->body_memory_budget, 64ull << 20);
}

TEST(DurationTest, Units) {
  EXPECT_EQ(*ParseDuration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("10m"), std::chrono::seconds(600));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::seconds(7200));
  EXPECT_EQ(*ParseDuration("1d"), std::chrono::seconds(86400));
  EXPECT_EQ(*ParseDuration("15"), std::chrono::seconds(15));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("5w").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999d").ok());
}

TEST(ConfigTest, UpstreamPathIsValidated) {
  Config c = DefaultConfig();
  EXPECT_FALSE(ResolveUpstreamUrl(c, "github", "../x").ok());
  EXPECT_FALSE(ResolveUpstreamUrl(c, "github", "a b").ok());
  EXPECT_FALSE(ResolveUpstreamUrl(c, "nope", "a/b").ok());
}

}  // namespace
}  // namespace mirrord

namespace mirrord {
namespace {

TEST(ConfigTest, PrivacyFollowsTheUpstreamTokenUnlessOverridden) {
  auto c = ParseConfig(R"(
[upstreams.internal]
url = "https://git.lab/{repo}.git"
token_file = "/etc/mirrord/internal.token"

[upstreams.open_internal]
url = "https://git2.lab/{repo}.git"
token_file = "/etc/mirrord/internal.token"
private = false

[upstreams.secret]
url = "https://git3.lab/{repo}.git"
private = true

[[repos]]
name = "lab/a"
upstream = "internal"

[[repos]]
name = "lab/b"
upstream = "internal"
private = false

[[repos]]
name = "gh/c"
upstream = "github"
private = true

[[repos]]
name = "url/d"
url = "https://elsewhere.lab/d.git"
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->RepoIsPrivate("lab/a", "internal"));
  EXPECT_FALSE(c->RepoIsPrivate("lab/b", "internal"));
  EXPECT_TRUE(c->RepoIsPrivate("gh/c", "github"));
  EXPECT_FALSE(c->RepoIsPrivate("url/d", ""));
  // Repos added through the API (no [[repos]] entry) follow their upstream.
  EXPECT_TRUE(c->RepoIsPrivate("api/x", "internal"));
  EXPECT_FALSE(c->RepoIsPrivate("api/x", "open_internal"));
  EXPECT_TRUE(c->RepoIsPrivate("api/x", "secret"));
  EXPECT_FALSE(c->RepoIsPrivate("api/x", "github"));
  EXPECT_FALSE(c->RepoIsPrivate("api/x", "unknown"));

  auto bad = ParseConfig("[[repos]]\nname = \"a/b\"\nprivate = \"yes\"\n", "t.toml");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace mirrord
