// The registry client against a real registry: Debian's docker-registry (distribution 2.8)
// with htpasswd Basic auth or token auth (a TokenIssuer), a TcpProxy in front counting the
// bytes the pusher sends (and cutting a connection mid-upload), and skopeo reading the
// result back. Images are built in-process from a real git repository (BuildImage).
#include "deploy/registry_pusher.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/lfs_pointer.h"
#include "common/sha256.h"
#include "deploy/image_builder.h"
#include "tests/fixtures/docker_registry.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/token_issuer.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::DockerRegistry;
using test::PutObject;
using test::SeededBytes;
using test::TcpProxy;

constexpr uint64_t kShard = 4 << 20;        // each weight file: a chunked upload
constexpr uint64_t kChunk = (3 << 20) / 2;  // above curl's 1 MiB: bodies wait for 100 Continue
// Request lines, headers and small answers of a whole push of these images stay below this.
constexpr uint64_t kOverhead = 96 * 1024;

class RegistryPusherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-push-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(test::WorkRepo work, test::WorkRepo::Init(dir_->path() / "work"));
    work_.emplace(std::move(work));
    ASSERT_OK(WriteFileAtomically(dir_->path() / "serve", "#!/bin/sh\necho serving\n", 0755));
    fs::path root = dir_->path() / "store";
    ASSERT_OK(CreateDirectories(root));
    ASSERT_OK_AND_ASSIGN(lfs_, BlobStore::Open(root / "lfs"));
    ASSERT_OK_AND_ASSIGN(oci_, OciStore::Open(root / "oci"));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(root / "catalog.sqlite"));
  }

  // Commits the weights (LFS pointers, objects into the store) and builds the image.
  BuildOutcome Build(const std::map<std::string, std::string>& weights) {
    for (const auto& [path, content] : weights) {
      LfsPointer p{Sha256Hex(content), content.size()};
      EXPECT_OK(work_->WriteFile(path, FormatLfsPointer(p)));
      PutObject(*lfs_, content);
    }
    EXPECT_OK(work_->WriteFile("config.json", "{\"hidden_size\": 64}\n"));
    auto sha = work_->Commit("model");
    EXPECT_TRUE(sha.ok()) << sha.status().ToString();
    fs::path mirror = dir_->path() / "mirror.git";
    fs::remove_all(mirror);
    EXPECT_TRUE(
        test::Git({"clone", "-q", "--mirror", work_->dir().string(), mirror.string()}).ok());
    BuildRecipe r;
    r.name = "tiny";
    r.repo = "org/tiny";
    std::string serve = "#!/bin/sh\necho serving\n";
    r.files.push_back({dir_->path() / "serve", "/usr/local/bin/serve", 0755, Sha256Hex(serve)});
    r.entrypoint = {"/usr/local/bin/serve"};
    BuildInputs in;
    in.repo = "org/tiny";
    in.mirror_dir = mirror;
    in.upstream_url = "https://huggingface.co/org/tiny";
    in.ref = "refs/heads/main";
    auto built = BuildImage(r, in, {*lfs_, *oci_, *catalog_}, 1000);
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    return built.ok() ? *built : BuildOutcome{};
  }

  std::map<std::string, std::string> Weights(uint32_t seed2) {
    return {{"model-00001-of-00002.safetensors", SeededBytes(kShard, 1)},
            {"model-00002-of-00002.safetensors", SeededBytes(kShard + 77, seed2)}};
  }

  // The config and layers of a stored manifest, with their sizes.
  std::vector<std::pair<std::string, uint64_t>> BlobsOf(const std::string& digest) {
    std::vector<std::pair<std::string, uint64_t>> out;
    auto m = json::parse(*oci_->Read(digest)).as_object();
    auto add = [&](const json::value& d) {
      out.emplace_back(std::string(d.at("digest").as_string()),
                       static_cast<uint64_t>(d.at("size").to_number<int64_t>()));
    };
    add(m.at("config"));
    for (const json::value& l : m.at("layers").as_array()) add(l);
    return out;
  }
  uint64_t BytesOf(const std::string& digest) {
    uint64_t n = 0;
    for (const auto& [d, size] : BlobsOf(digest)) n += size;
    return n;
  }

  std::unique_ptr<ImagePusher> Pusher() {
    RegistryPusherOptions o;
    o.monolithic_limit = 512 * 1024;
    o.chunk_size = kChunk;
    o.timing.sleep = [](std::chrono::milliseconds) {};  // retries: no real waits
    o.timing.seed = 7;
    return MakeRegistryPusher(*catalog_, *lfs_, *oci_, std::move(o));
  }

  RegistryTarget Target(const TcpProxy& proxy) {
    RegistryTarget t;
    t.name = "lab";
    t.url = "http://127.0.0.1:" + std::to_string(proxy.port());
    t.insecure = true;
    return t;
  }

  // skopeo copies the pushed image out (verifying every blob against its digest) and reads
  // its raw manifest: both must be the digests mirrord serves.
  void ExpectSkopeoSees(const DockerRegistry& registry, const std::string& ref,
                        const std::string& digest, const std::vector<std::string>& creds) {
    std::vector<std::string> inspect = {"skopeo", "inspect", "--raw", "--tls-verify=false"};
    inspect.insert(inspect.end(), creds.begin(), creds.end());
    inspect.push_back("docker://" + registry.HostPort() + "/" + ref);
    ASSERT_OK_AND_ASSIGN(std::string raw, test::RunProcessOk(inspect));
    EXPECT_EQ("sha256:" + Sha256Hex(raw), digest);
    EXPECT_EQ(raw, *oci_->Read(digest));
    fs::path out = dir_->path() / ("copy-" + Sha256Hex(ref).substr(0, 8));
    std::vector<std::string> copy = {"skopeo", "copy", "--src-tls-verify=false",
                                     "--dest-oci-accept-uncompressed-layers"};
    for (const std::string& c : creds) copy.push_back(c == "--creds" ? "--src-creds" : c);
    copy.push_back("docker://" + registry.HostPort() + "/" + ref);
    copy.push_back("oci:" + out.string() + ":x");
    ASSERT_OK(test::RunProcessOk(copy).status());
    for (const auto& [d, size] : BlobsOf(digest)) {
      fs::path blob = out / "blobs" / "sha256" / d.substr(7);
      ASSERT_TRUE(fs::exists(blob)) << d;
      EXPECT_EQ(fs::file_size(blob), size) << d;
    }
  }

  std::optional<test::TempDir> dir_;
  std::optional<test::WorkRepo> work_;
  std::unique_ptr<BlobStore> lfs_;
  std::unique_ptr<OciStore> oci_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(RegistryPusherTest, BasicAuthPushSkipsWhatIsThereAndSendsOnlyTheChangedShard) {
  ASSERT_OK_AND_ASSIGN(auto registry,
                       DockerRegistry::Start(dir_->path() / "registry", "builder", "s3cret"));
  ASSERT_OK_AND_ASSIGN(auto proxy, TcpProxy::Start(registry->port()));
  BuildOutcome first = Build(Weights(2));
  ASSERT_FALSE(first.image.digest.empty());
  RegistryTarget target = Target(*proxy);
  target.username = "builder";
  target.password = "s3cret";
  auto pusher = Pusher();

  PushRequest image{"tiny", first.image.digest, "lab/tiny", {"main", "v1"}};
  std::vector<PushProgress> progress;
  ASSERT_OK_AND_ASSIGN(
      PushReport report,
      pusher->Push(
          target, image, [&](const PushProgress& p) { progress.push_back(p); }, nullptr));
  const size_t blobs = BlobsOf(first.image.digest).size();
  EXPECT_EQ(report.blobs_uploaded, blobs);
  EXPECT_EQ(report.blobs_skipped, 0u);
  EXPECT_EQ(report.blobs_mounted, 0u);
  EXPECT_EQ(report.uploads_resumed, 0u);
  EXPECT_EQ(report.bytes_sent, BytesOf(first.image.digest));
  EXPECT_GE(proxy->bytes_from_clients(), BytesOf(first.image.digest));
  EXPECT_LE(proxy->bytes_from_clients(), BytesOf(first.image.digest) + kOverhead);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().blobs_done, blobs);
  EXPECT_EQ(progress.back().bytes_sent, progress.back().bytes_total);
  EXPECT_EQ(progress.back().bytes_total, BytesOf(first.image.digest));
  ExpectSkopeoSees(*registry, "lab/tiny:main", first.image.digest, {"--creds", "builder:s3cret"});
  ExpectSkopeoSees(*registry, "lab/tiny:v1", first.image.digest, {"--creds", "builder:s3cret"});

  // The model artifact, its raw layers included (the weights' own digests).
  PushRequest model{"tiny", first.model.digest, "lab/tiny", {"main-model"}};
  ASSERT_OK_AND_ASSIGN(PushReport model_report, pusher->Push(target, model, {}, nullptr));
  EXPECT_EQ(model_report.blobs_skipped + model_report.blobs_uploaded + model_report.blobs_mounted,
            BlobsOf(first.model.digest).size());
  ExpectSkopeoSees(*registry, "lab/tiny:main-model", first.model.digest,
                   {"--creds", "builder:s3cret"});

  // Again: nothing but HEADs and the manifests.
  uint64_t before = proxy->bytes_from_clients();
  ASSERT_OK_AND_ASSIGN(PushReport again, pusher->Push(target, image, {}, nullptr));
  EXPECT_EQ(again.blobs_uploaded, 0u);
  EXPECT_EQ(again.blobs_skipped, blobs);
  EXPECT_EQ(again.bytes_sent, 0u);
  EXPECT_LE(proxy->bytes_from_clients() - before, kOverhead);

  // The next revision changes one shard: its layer, the config and the manifest go.
  BuildOutcome second = Build(Weights(3));
  ASSERT_NE(second.image.digest, first.image.digest);
  auto old_blobs = BlobsOf(first.image.digest);
  uint64_t expected = 0;
  size_t changed = 0;
  for (const auto& [d, size] : BlobsOf(second.image.digest)) {
    bool known = false;
    for (const auto& [od, osize] : old_blobs) known = known || od == d;
    if (!known) expected += size, ++changed;
  }
  ASSERT_EQ(changed, 2u);  // the shard's layer and the config
  before = proxy->bytes_from_clients();
  PushRequest next{"tiny", second.image.digest, "lab/tiny", {"main"}};
  ASSERT_OK_AND_ASSIGN(PushReport delta, pusher->Push(target, next, {}, nullptr));
  EXPECT_EQ(delta.blobs_uploaded, 2u);
  EXPECT_EQ(delta.blobs_skipped, blobs - 2);
  EXPECT_EQ(delta.bytes_sent, expected);
  EXPECT_GE(proxy->bytes_from_clients() - before, expected);
  EXPECT_LE(proxy->bytes_from_clients() - before, expected + kOverhead);
  ExpectSkopeoSees(*registry, "lab/tiny:main", second.image.digest, {"--creds", "builder:s3cret"});
}

TEST_F(RegistryPusherTest, WrongPasswordIsPermissionDenied) {
  ASSERT_OK_AND_ASSIGN(auto registry,
                       DockerRegistry::Start(dir_->path() / "registry", "builder", "s3cret"));
  ASSERT_OK_AND_ASSIGN(auto proxy, TcpProxy::Start(registry->port()));
  BuildOutcome built = Build(Weights(2));
  RegistryTarget target = Target(*proxy);
  target.username = "builder";
  target.password = "wrong";
  auto pushed =
      Pusher()->Push(target, {"tiny", built.image.digest, "lab/tiny", {"main"}}, {}, nullptr);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), StatusCode::kPermissionDenied) << pushed.status().ToString();
  target.password.clear();
  target.username.clear();
  pushed = Pusher()->Push(target, {"tiny", built.image.digest, "lab/tiny", {"main"}}, {}, nullptr);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), StatusCode::kPermissionDenied) << pushed.status().ToString();
}

TEST_F(RegistryPusherTest, BearerTokenFlowCachesTokensAndMountsAcrossRepositories) {
  ASSERT_OK_AND_ASSIGN(auto issuer,
                       test::TokenIssuer::Start(dir_->path() / "issuer", "builder", "s3cret"));
  ASSERT_OK_AND_ASSIGN(auto registry, DockerRegistry::StartWithTokenAuth(dir_->path() / "registry",
                                                                         issuer->Settings()));
  ASSERT_OK_AND_ASSIGN(auto proxy, TcpProxy::Start(registry->port()));
  BuildOutcome built = Build(Weights(2));
  RegistryTarget target = Target(*proxy);
  target.username = "builder";
  target.password = "s3cret";
  auto pusher = Pusher();
  ASSERT_OK_AND_ASSIGN(
      PushReport report,
      pusher->Push(target, {"tiny", built.image.digest, "lab/tiny", {"main"}}, {}, nullptr));
  const size_t blobs = BlobsOf(built.image.digest).size();
  EXPECT_EQ(report.blobs_uploaded, blobs);
  // One token for the push scope, reused by every request (plus at most the one the /v2/
  // ping's challenge asked for).
  size_t tokens = issuer->requests().size();
  EXPECT_GE(tokens, 1u);
  EXPECT_LE(tokens, 2u);
  for (const auto& r : issuer->requests()) {
    EXPECT_NE(r.target.find("scope=repository%3Alab%2Ftiny%3Apull%2Cpush"), std::string::npos)
        << r.target;
  }
  ExpectSkopeoSees(*registry, "lab/tiny:main", built.image.digest, {"--creds", "builder:s3cret"});

  // Another repository of the same registry: every blob is mounted, none sent.
  uint64_t before = proxy->bytes_from_clients();
  ASSERT_OK_AND_ASSIGN(
      PushReport other,
      pusher->Push(target, {"tiny", built.image.digest, "lab/other", {"main"}}, {}, nullptr));
  EXPECT_EQ(other.blobs_mounted, blobs);
  EXPECT_EQ(other.blobs_uploaded, 0u);
  EXPECT_EQ(other.bytes_sent, 0u);
  EXPECT_LE(proxy->bytes_from_clients() - before, kOverhead);
  bool asked_source_pull = false;
  for (const auto& r : issuer->requests()) {
    asked_source_pull =
        asked_source_pull ||
        r.target.find("scope=repository%3Alab%2Ftiny%3Apull&") != std::string::npos ||
        r.target.ends_with("scope=repository%3Alab%2Ftiny%3Apull");
  }
  EXPECT_TRUE(asked_source_pull);
  ExpectSkopeoSees(*registry, "lab/other:main", built.image.digest, {"--creds", "builder:s3cret"});
}

TEST_F(RegistryPusherTest, DroppedConnectionMidBlobResumesWithoutResending) {
  ASSERT_OK_AND_ASSIGN(auto registry, DockerRegistry::Start(dir_->path() / "registry"));
  ASSERT_OK_AND_ASSIGN(auto proxy, TcpProxy::Start(registry->port()));
  BuildOutcome built = Build(Weights(2));
  const uint64_t total = BytesOf(built.image.digest);
  // Past the small blobs and the first chunk of the first weight layer.
  proxy->CutBodyAfterContinue(kChunk + (256 << 10));
  ASSERT_OK_AND_ASSIGN(
      PushReport report,
      Pusher()->Push(Target(*proxy), {"tiny", built.image.digest, "lab/tiny", {"main"}}, {},
                     nullptr));
  EXPECT_EQ(proxy->cuts(), 1);
  EXPECT_EQ(report.uploads_resumed, 1u);
  EXPECT_EQ(report.blobs_uploaded, BlobsOf(built.image.digest).size());
  // What the registry had acknowledged was not sent again: at most the cut chunk twice.
  EXPECT_LE(report.bytes_sent, total + kChunk);
  EXPECT_GE(proxy->bytes_from_clients(), total);
  EXPECT_LE(proxy->bytes_from_clients(), total + kChunk + kOverhead);
  ExpectSkopeoSees(*registry, "lab/tiny:main", built.image.digest, {});
}

TEST_F(RegistryPusherTest, CancelledBeforeStartSendsNothing) {
  ASSERT_OK_AND_ASSIGN(auto registry, DockerRegistry::Start(dir_->path() / "registry"));
  ASSERT_OK_AND_ASSIGN(auto proxy, TcpProxy::Start(registry->port()));
  BuildOutcome built = Build(Weights(2));
  std::atomic<bool> cancel{true};
  auto pushed =
      Pusher()->Push(Target(*proxy), {"tiny", built.image.digest, "lab/tiny", {}}, {}, &cancel);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(proxy->bytes_from_clients(), 0u);
}

TEST_F(RegistryPusherTest, RefusesPlainHttpUnlessInsecureAndBadNames) {
  BuildOutcome built = Build(Weights(2));
  RegistryTarget target;
  target.name = "lab";
  target.url = "http://127.0.0.1:9";
  auto pushed = Pusher()->Push(target, {"tiny", built.image.digest, "lab/tiny", {}}, {}, nullptr);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), StatusCode::kInvalidArgument);
  target.insecure = true;
  for (PushRequest bad : {PushRequest{"tiny", built.image.digest, "Lab/Tiny", {}},
                          PushRequest{"tiny", built.image.digest, "lab//tiny", {}},
                          PushRequest{"tiny", built.image.digest, "lab/tiny", {"-bad"}},
                          PushRequest{"tiny", "sha256:00", "lab/tiny", {}}}) {
    auto r = Pusher()->Push(target, bad, {}, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad.repository;
  }
  auto unknown = Pusher()->Push(target, {"tiny", "sha256:" + std::string(64, 'a'), "lab/tiny", {}},
                                {}, nullptr);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

// Behaviour distribution never shows, from a scripted registry on a TestUpstream: uploads
// whose Location is on another host (object storage) and rate limiting.
class ScriptedRegistryTest : public RegistryPusherTest {
 protected:
  void StartRegistries() {
    ASSERT_OK_AND_ASSIGN(registry_, test::TestUpstream::Start(dir_->path() / "registry"));
    ASSERT_OK_AND_ASSIGN(storage_, test::TestUpstream::Start(dir_->path() / "storage"));
    registry_->SetRequireAuth("Bearer lab-token");
    std::string storage_url = storage_->BaseUrl();
    registry_->AddRoute("/v2/", [storage_url](const test::UpstreamRequest& r) {
      if (r.path == "/v2/") return test::UpstreamResponse::Text(200, "{}");
      if (r.method == "HEAD") return test::UpstreamResponse::Text(404, "");
      if (r.method == "POST" && r.path == "/v2/lab/tiny/blobs/uploads/") {
        test::UpstreamResponse a = test::UpstreamResponse::Text(202, "");
        a.headers.emplace_back("Location", storage_url + "/upload/1?sig=abc");
        return a;
      }
      if (r.method == "PUT" && r.path.find("/manifests/") != std::string::npos) {
        return test::UpstreamResponse::Text(201, "");
      }
      return test::UpstreamResponse::Text(400, "unexpected");
    });
    storage_->AddRoute("/upload/", [](const test::UpstreamRequest& r) {
      return test::UpstreamResponse::Text(r.method == "PUT" ? 201 : 202, "");
    });
  }
  RegistryTarget StaticTokenTarget() {
    RegistryTarget t;
    t.name = "lab";
    t.url = registry_->BaseUrl();
    t.insecure = true;
    t.token = "lab-token";
    return t;
  }

  std::unique_ptr<test::TestUpstream> registry_;
  std::unique_ptr<test::TestUpstream> storage_;
};

TEST_F(ScriptedRegistryTest, CredentialsNeverFollowAnUploadToAnotherHost) {
  StartRegistries();
  BuildOutcome built = Build(Weights(2));
  // Everything monolithic here, so that the storage host sees one PUT per blob.
  RegistryPusherOptions o;
  o.monolithic_limit = 64 << 20;
  o.timing.sleep = [](std::chrono::milliseconds) {};
  auto pusher = MakeRegistryPusher(*catalog_, *lfs_, *oci_, std::move(o));
  ASSERT_OK_AND_ASSIGN(
      PushReport report,
      pusher->Push(StaticTokenTarget(), {"tiny", built.image.digest, "lab/tiny", {"main"}}, {},
                   nullptr));
  const size_t blobs = BlobsOf(built.image.digest).size();
  EXPECT_EQ(report.blobs_uploaded, blobs);
  size_t puts = 0;
  for (const auto& r : storage_->requests()) {
    EXPECT_FALSE(r.has_authorization) << r.method << " " << r.target;
    puts += r.method == "PUT" ? 1 : 0;
  }
  EXPECT_EQ(puts, blobs);
  size_t registry_requests = 0;
  for (const auto& r : registry_->requests()) {
    EXPECT_EQ(r.authorization, "Bearer lab-token") << r.method << " " << r.target;
    ++registry_requests;
  }
  EXPECT_GT(registry_requests, blobs);
}

TEST_F(ScriptedRegistryTest, RateLimitedRequestsWaitForRetryAfter) {
  StartRegistries();
  BuildOutcome built = Build(Weights(2));
  test::Fault limited = test::Fault::AnswerStatus("/blobs/sha256:", 429);
  limited.method = "HEAD";
  limited.extra_headers["Retry-After"] = "7";
  limited.times = 2;
  registry_->AddFault(limited);
  std::vector<std::chrono::milliseconds> waits;
  RegistryPusherOptions o;
  o.monolithic_limit = 64 << 20;
  o.timing.sleep = [&](std::chrono::milliseconds d) { waits.push_back(d); };
  o.timing.seed = 1;
  auto pusher = MakeRegistryPusher(*catalog_, *lfs_, *oci_, std::move(o));
  ASSERT_OK(
      pusher->Push(StaticTokenTarget(), {"tiny", built.image.digest, "lab/tiny", {}}, {}, nullptr)
          .status());
  ASSERT_EQ(waits.size(), 2u);
  for (auto w : waits) EXPECT_GE(w, std::chrono::seconds(7));

  // A registry that keeps refusing: the push ends after max_retries, naming the blob.
  test::Fault always = test::Fault::AnswerStatus("/blobs/sha256:", 503);
  always.method = "HEAD";
  registry_->AddFault(always);
  waits.clear();
  RegistryPusherOptions few;
  few.max_retries = 3;
  few.timing.sleep = [&](std::chrono::milliseconds d) { waits.push_back(d); };
  auto failing = MakeRegistryPusher(*catalog_, *lfs_, *oci_, std::move(few));
  auto pushed =
      failing->Push(StaticTokenTarget(), {"tiny", built.image.digest, "lab/tiny", {}}, {}, nullptr);
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(waits.size(), 3u);
  EXPECT_NE(pushed.status().message().find("sha256:"), std::string::npos)
      << pushed.status().ToString();
}

}  // namespace
}  // namespace mirrord
