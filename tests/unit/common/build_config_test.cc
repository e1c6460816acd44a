#include "common/build_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/config.h"

namespace mirrord {
namespace {

const std::string kLab = "[registries.lab]\nurl = \"https://registry.lab\"\n";
constexpr char kRepo[] = "[[repos]]\nname = \"THUDM/glm-4v-9b\"\nupstream = \"hf\"\n";
const std::string kSha(64, 'a');

std::string Recipe(const std::string& extra) {
  return std::string(kRepo) + "[[builds]]\nname = \"glm-4v\"\nrepo = \"THUDM/glm-4v-9b\"\n" + extra;
}

TEST(BuildConfigTest, FullRecipeParses) {
  auto c = ParseConfig(std::string(kRepo) + R"(
[registries.lab]
url = "https://registry.lab:5000"
username = "bot"
password_file = "/etc/mirrord/registry.password"
ca_file = "/etc/mirrord/lab-ca.pem"
[registries.local]
url = "http://127.0.0.1:5000"
insecure = true
token_file = "/etc/mirrord/registry.token"

[[builds]]
name = "lab/glm-4v"
repo = "THUDM/glm-4v-9b"
refs = ["refs/heads/main", "refs/tags/v*"]
include = ["*.safetensors", "*.json"]
exclude = ["*.bin"]
model_dir = "/models/glm"
base = "registry.lab:5000/cuda/runtime:12.1"
entrypoint = ["/usr/local/bin/serve"]
cmd = ["--port", "8000"]
env = { HF_HUB_OFFLINE = "1", OMP_NUM_THREADS = "8" }
ports = ["8000", "9000/udp"]
workdir = "/srv"
user = "1000:1000"
labels = { team = "vision" }
require_cuda = ">=12.1"
nvidia_visible_devices = "0,1"
nvidia_driver_capabilities = "compute,utility,video"
tags = ["{ref}", "{ref}-{commit}"]
keep = 5
shm_size = "32g"
push = ["lab"]
[[builds.files]]
source = "/opt/serve/bin/serve"
dest = "/usr/local/bin/serve"
mode = "0755"
sha256 = ")" + kSha + "\"\n",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->builds.size(), 1u);
  const BuildRecipe& r = c->builds[0];
  EXPECT_EQ(r.name, "lab/glm-4v");
  EXPECT_EQ(r.refs, (std::vector<std::string>{"refs/heads/main", "refs/tags/v*"}));
  EXPECT_EQ(r.ModelDir(), "/models/glm");
  EXPECT_EQ(r.base, "registry.lab:5000/cuda/runtime:12.1");
  EXPECT_EQ(r.env.at("OMP_NUM_THREADS"), "8");
  EXPECT_EQ(r.ports, (std::vector<std::string>{"8000", "9000/udp"}));
  EXPECT_EQ(r.require_cuda, ">=12.1");
  EXPECT_EQ(r.nvidia_visible_devices, "0,1");
  EXPECT_EQ(r.keep, 5);
  EXPECT_EQ(r.shm_size, "32g");
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].mode, 0755u);
  EXPECT_EQ(r.files[0].sha256, kSha);
  ASSERT_EQ(c->registries.size(), 2u);
  EXPECT_EQ(c->registries.at("lab").username, "bot");
  EXPECT_TRUE(c->registries.at("local").insecure);
}

TEST(BuildConfigTest, DefaultsOfAMinimalRecipe) {
  auto c = ParseConfig(Recipe(""), "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const BuildRecipe& r = c->builds.at(0);
  EXPECT_EQ(r.ModelDir(), "/models/THUDM/glm-4v-9b");
  EXPECT_EQ(r.base, "scratch");
  EXPECT_EQ(r.tags, (std::vector<std::string>{"{ref}", "{commit}"}));
  EXPECT_EQ(r.keep, 3);
  EXPECT_EQ(r.shm_size, "16g");
  EXPECT_EQ(r.nvidia_visible_devices, "all");
  EXPECT_EQ(r.nvidia_driver_capabilities, "compute,utility");
}

// Each bad key stops the config with one line naming the entry and the key.
TEST(BuildConfigTest, EachBadKeyIsNamed) {
  struct Case {
    std::string toml;
    std::string want;  // the start of the message after "t.toml: "
  };
  const std::string file = "[[builds.files]]\nsource = \"/opt/serve\"\ndest = \"/bin/serve\"\n";
  std::vector<Case> cases = {
      {std::string(kRepo) + "[[builds]]\nrepo = \"THUDM/glm-4v-9b\"\n", "[builds #1] name:"},
      {std::string(kRepo) + "[[builds]]\nname = \"GLM\"\nrepo = \"THUDM/glm-4v-9b\"\n",
       "[builds #1] name:"},
      {std::string(kRepo) + "[[builds]]\nname = \"a--b_\"\nrepo = \"THUDM/glm-4v-9b\"\n",
       "[builds #1] name:"},
      {std::string(kRepo) + "[[builds]]\nname = \"x\"\nrepo = \"other/repo\"\n",
       "[builds #1] repo:"},
      {Recipe("refs = [\"main\"]\n"), "[builds #1] refs:"},
      {Recipe("refs = \"refs/heads/main\"\n"), "[builds #1] refs:"},
      {Recipe("include = [1]\n"), "[builds #1] include:"},
      {Recipe("exclude = \"x\"\n"), "[builds #1] exclude:"},
      {Recipe("model_dir = \"models\"\n"), "[builds #1] model_dir:"},
      {Recipe("model_dir = \"/models/../etc\"\n"), "[builds #1] model_dir:"},
      {Recipe("base = \"Ubuntu\"\n"), "[builds #1] base:"},
      {Recipe("base = \"registry.lab/cuda@sha256:abc\"\n"), "[builds #1] base:"},
      {Recipe("entrypoint = \"/bin/serve\"\n"), "[builds #1] entrypoint:"},
      {Recipe("cmd = [1, 2]\n"), "[builds #1] cmd:"},
      {Recipe("env = { \"1X\" = \"v\" }\n"), "[builds #1] env:"},
      {Recipe("env = { X = 1 }\n"), "[builds #1] env:"},
      {Recipe("ports = [\"http\"]\n"), "[builds #1] ports:"},
      {Recipe("ports = [\"70000\"]\n"), "[builds #1] ports:"},
      {Recipe("ports = [\"80/icmp\"]\n"), "[builds #1] ports:"},
      {Recipe("workdir = \"srv\"\n"), "[builds #1] workdir:"},
      {Recipe("user = 1000\n"), "[builds #1] user:"},
      {Recipe("labels = [\"a\"]\n"), "[builds #1] labels:"},
      {Recipe("require_cuda = \"12.1\"\n"), "[builds #1] require_cuda:"},
      {Recipe("require_cuda = \">=12..1\"\n"), "[builds #1] require_cuda:"},
      {Recipe("nvidia_visible_devices = 0\n"), "[builds #1] nvidia_visible_devices:"},
      {Recipe("nvidia_driver_capabilities = []\n"), "[builds #1] nvidia_driver_capabilities:"},
      {Recipe("tags = []\n"), "[builds #1] tags:"},
      {Recipe("tags = [\"{branch}\"]\n"), "[builds #1] tags:"},
      {Recipe("tags = [\"a b\"]\n"), "[builds #1] tags:"},
      {Recipe("keep = 0\n"), "[builds #1] keep:"},
      {Recipe("keep = \"3\"\n"), "[builds #1] keep:"},
      {Recipe("shm_size = \"16 GB\"\n"), "[builds #1] shm_size:"},
      {Recipe("shm_size = 16\n"), "[builds #1] shm_size:"},
      {Recipe("push = [\"nowhere\"]\n"), "[builds #1] push:"},
      {Recipe("push = [\"lab\", \"lab\"]\n" + kLab), "[builds #1] push:"},
      {Recipe("push = [1]\n" + kLab), "[builds #1] push:"},
      {Recipe("push = \"lab\"\n" + kLab), "[builds #1] push:"},
      {Recipe("push = [{ registry = \"nowhere\" }]\n" + kLab), "[builds #1] push:"},
      {Recipe("push = [{ repository = \"x\" }]\n" + kLab), "[builds #1 push #1] registry:"},
      {Recipe("push = [{ registry = \"lab\", repository = \"Models/{name}\" }]\n" + kLab),
       "[builds #1 push #1] repository:"},
      {Recipe("push = [{ registry = \"lab\", tags = [\"{branch}\"] }]\n" + kLab),
       "[builds #1 push #1] tags:"},
      {Recipe("push = [{ registry = \"lab\", tag = [\"x\"] }]\n" + kLab),
       "[builds #1 push #1] tag:"},
      {Recipe("colour = \"blue\"\n"), "[builds #1] colour:"},
      {Recipe("files = 3\n"), "[builds #1] files:"},
      {Recipe(file + "sha256 = \"" + kSha + "\"\nsource2 = 1\n"), "[builds #1 files #1] source2:"},
      {Recipe("[[builds.files]]\ndest = \"/bin/serve\"\nsha256 = \"" + kSha + "\"\n"),
       "[builds #1 files #1] source:"},
      {Recipe("[[builds.files]]\nsource = \"opt/serve\"\ndest = \"/bin/serve\"\nsha256 = \"" +
              kSha + "\"\n"),
       "[builds #1 files #1] source:"},
      {Recipe("[[builds.files]]\nsource = \"/opt/serve\"\ndest = \"bin/serve\"\nsha256 = \"" +
              kSha + "\"\n"),
       "[builds #1 files #1] dest:"},
      {Recipe(file + "mode = \"0999\"\nsha256 = \"" + kSha + "\"\n"), "[builds #1 files #1] mode:"},
      {Recipe(file + "mode = 755\nsha256 = \"" + kSha + "\"\n"), "[builds #1 files #1] mode:"},
      {Recipe(file), "[builds #1 files #1] sha256:"},
      {Recipe(file + "sha256 = \"ABC\"\n"), "[builds #1 files #1] sha256:"},
      {Recipe(file + "sha256 = \"" + kSha + "\"\n" + file + "sha256 = \"" + kSha + "\"\n"),
       "[builds #1] files:"},
      {Recipe("") + "[[builds]]\nname = \"glm-4v\"\nrepo = \"THUDM/glm-4v-9b\"\n",
       "[builds #2] name:"},
      {"[registries.lab]\nurl = \"ftp://x\"\n", "[registries.lab] url:"},
      {"[registries.lab]\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"http://x:5000\"\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"https://x\"\npassword_file = \"/p\"\n",
       "[registries.lab] password_file:"},
      {"[registries.lab]\nurl = \"https://x\"\ntoken_file = \"\"\n",
       "[registries.lab] token_file:"},
      {"[registries.lab]\nurl = \"https://x\"\nca_file = 3\n", "[registries.lab] ca_file:"},
      {"[registries.lab]\nurl = \"https://x\"\nusername = 3\n", "[registries.lab] username:"},
      {"[registries.lab]\nurl = \"https://x\"\ninsecure = \"yes\"\n", "[registries.lab] insecure:"},
      {"[registries.lab]\nurl = \"https://x\"\npasword_file = \"/p\"\n",
       "[registries.lab] pasword_file:"},
      {"[registries.lab]\nurl = \"https://x/v2/\"\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"https://u:p@x\"\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"https:// x\"\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"https://\"\n", "[registries.lab] url:"},
      {"[registries.lab]\nurl = \"https://x\"\nusername = \"bot\"\n", "[registries.lab] username:"},
      {"[registries.lab]\nurl = \"https://x\"\nusername = \"bot\"\npassword_file = \"/p\"\n"
       "token_file = \"/t\"\n",
       "[registries.lab] token_file:"},
      {"registries = 1\n", "registries:"},
      {"builds = 1\n", "builds:"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseConfig(c.toml, "t.toml");
    ASSERT_FALSE(parsed.ok()) << "accepted:\n" << c.toml;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    const std::string m = parsed.status().message();
    EXPECT_EQ(m.rfind("t.toml: " + c.want, 0), 0u) << m << "\nfor:\n" << c.toml;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// `push` names registries, or maps the repository and tags per registry (inline tables or
// [[builds.push]] entries).
TEST(BuildConfigTest, PushTargetsPlainAndMapped) {
  auto c = ParseConfig(Recipe("push = [\"lab\", { registry = \"local\", repository = "
                              "\"models/{name}\", tags = [\"{commit}\", \"latest\"] }]\n") +
                           kLab +
                           "[registries.local]\nurl = \"http://127.0.0.1:5000/\"\n"
                           "insecure = true\n",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const BuildRecipe& r = c->builds.at(0);
  ASSERT_EQ(r.push.size(), 2u);
  EXPECT_EQ(r.push[0].registry, "lab");
  EXPECT_EQ(r.push[0].RepositoryFor("glm-4v"), "glm-4v");
  EXPECT_TRUE(r.push[0].tags.empty());
  EXPECT_EQ(r.push[1].registry, "local");
  EXPECT_EQ(r.push[1].RepositoryFor("glm-4v"), "models/glm-4v");
  EXPECT_EQ(r.push[1].tags, (std::vector<std::string>{"{commit}", "latest"}));
  // The URL is kept without its trailing slash.
  EXPECT_EQ(c->registries.at("local").url, "http://127.0.0.1:5000");

  auto tables = ParseConfig(Recipe("[[builds.push]]\nregistry = \"lab\"\nrepository = "
                                   "\"team/{name}\"\n") +
                                kLab,
                            "t.toml");
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  ASSERT_EQ(tables->builds.at(0).push.size(), 1u);
  EXPECT_EQ(tables->builds.at(0).push[0].RepositoryFor("glm-4v"), "team/glm-4v");
}

TEST(BuildConfigTest, ImageNameAndTagGrammar) {
  for (std::string_view ok : {"a", "glm-4v", "lab/glm-4v", "a.b_c__d---e/f", "x0/y1/z2"}) {
    EXPECT_TRUE(IsValidImageName(ok)) << ok;
  }
  for (std::string_view bad :
       {"", "A", "a/", "/a", "a//b", "a_", "-a", "a___b", "a..b", "a b", "v2/../x"}) {
    EXPECT_FALSE(IsValidImageName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidImageName(std::string(256, 'a')));
  for (std::string_view ok : {"main", "v1.0", "_x", "A-b.c_d"}) EXPECT_TRUE(IsValidImageTag(ok));
  for (std::string_view bad : {"", ".x", "-x", "a/b", "a:b"}) EXPECT_FALSE(IsValidImageTag(bad));
  EXPECT_FALSE(IsValidImageTag(std::string(129, 'a')));
}

}  // namespace
}  // namespace mirrord
