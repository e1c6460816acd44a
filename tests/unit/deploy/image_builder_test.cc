#include "deploy/image_builder.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/lfs_pointer.h"
#include "common/sha256.h"
#include "deploy/image_retention.h"
#include "deploy/oci_json.h"
#include "deploy/preflight/preflight_manifest.h"
#include "deploy/preflight_layers.h"
#include "deploy/tar_layer.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::PutObject;
using test::SeededBytes;

// One independent mirrord store: LFS objects, OCI blobs, catalog.
struct Store {
  std::unique_ptr<BlobStore> lfs;
  std::unique_ptr<OciStore> oci;
  std::unique_ptr<Catalog> catalog;
  BuildStores stores() { return {*lfs, *oci, *catalog}; }
};

class ImageBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-build-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto work = test::WorkRepo::Init(dir_->path() / "work");
    ASSERT_TRUE(work.ok()) << work.status().ToString();
    work_.emplace(std::move(*work));
    binary_ = "#!/bin/sh\necho serving\n";
    ASSERT_TRUE(WriteFileAtomically(dir_->path() / "serve", binary_, 0755).ok());
  }

  Store OpenStore(const std::string& name) {
    Store s;
    fs::path root = dir_->path() / name;
    EXPECT_TRUE(CreateDirectories(root).ok());
    s.lfs = std::move(*BlobStore::Open(root / "lfs"));
    s.oci = std::move(*OciStore::Open(root / "oci"));
    auto catalog = Catalog::Open(root / "catalog.sqlite");
    EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
    s.catalog = std::move(*catalog);
    return s;
  }

  // Commits `weights` as LFS pointers (and the objects into `stores`) plus small files.
  std::string CommitModel(const std::map<std::string, std::string>& weights,
                          std::vector<Store*> stores) {
    for (const auto& [path, content] : weights) {
      LfsPointer p{Sha256Hex(content), content.size()};
      EXPECT_TRUE(work_->WriteFile(path, FormatLfsPointer(p)).ok());
      for (Store* s : stores) PutObject(*s->lfs, content);
    }
    EXPECT_TRUE(work_->WriteFile("config.json", "{\"hidden_size\": 64}\n").ok());
    EXPECT_TRUE(work_->WriteFile("README.md", "# tiny model\n").ok());
    auto sha = work_->Commit("model");
    EXPECT_TRUE(sha.ok()) << sha.status().ToString();
    return sha.value_or("");
  }

  fs::path Mirror(const std::string& name) {
    fs::path m = dir_->path() / (name + ".git");
    fs::remove_all(m);
    auto r = test::Git({"clone", "-q", "--mirror", work_->dir().string(), m.string()});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return m;
  }

  BuildRecipe Recipe() {
    BuildRecipe r;
    r.name = "tiny";
    r.repo = "org/tiny";
    r.files.push_back({dir_->path() / "serve", "/usr/local/bin/serve", 0755, Sha256Hex(binary_)});
    r.entrypoint = {"/usr/local/bin/serve"};
    r.cmd = {"--port", "8000"};
    r.env = {{"HF_HUB_OFFLINE", "1"}};
    r.ports = {"8000"};
    r.require_cuda = ">=12.1";
    r.labels = {{"lab", "vision"}};
    return r;
  }

  BuildInputs Inputs(const fs::path& mirror) {
    BuildInputs in;
    in.repo = "org/tiny";
    in.mirror_dir = mirror;
    in.upstream_url = "https://huggingface.co/org/tiny";
    in.ref = "refs/heads/main";
    return in;
  }

  // Extracts every layer of the image manifest `digest` with GNU tar into `out`, in order:
  // the layers (each a whole tar stream, checked against its digest) are concatenated and
  // read by one `tar --ignore-zeros`, which goes on past each end-of-archive.
  void Unpack(Store& s, const std::string& digest, const fs::path& out) {
    ASSERT_TRUE(CreateDirectories(out).ok());
    auto manifest = json::parse(*s.oci->Read(digest)).as_object();
    std::string all;
    for (const json::value& l : manifest["layers"].as_array()) {
      std::string d(l.as_object().at("digest").as_string());
      std::string bytes;
      if (s.oci->Contains(d)) {
        bytes = *s.oci->Read(d);
      } else {
        auto rec = s.catalog->FindTarLayerByDigest(d);
        ASSERT_TRUE(rec.ok() && rec->has_value()) << d;
        auto layer = TarLayer::FromSpec((*rec)->spec);
        ASSERT_TRUE(layer.ok());
        ASSERT_TRUE(ReadTarLayer(*layer, *s.lfs, 0, layer->size(), [&](std::string_view b) {
                      bytes.append(b);
                      return Status::Ok();
                    }).ok());
      }
      ASSERT_EQ("sha256:" + Sha256Hex(bytes), d);
      ASSERT_EQ(bytes.size(), l.as_object().at("size").as_int64());
      all += bytes;
    }
    fs::path tarball = dir_->path() / "layers.tar";
    ASSERT_TRUE(WriteFileAtomically(tarball, all).ok());
    auto x =
        test::RunProcessOk({"tar", "--ignore-zeros", "-xf", tarball.string(), "-C", out.string()});
    ASSERT_TRUE(x.ok()) << x.status().ToString();
  }

  std::optional<test::TempDir> dir_;
  std::optional<test::WorkRepo> work_;
  std::string binary_;
};

TEST_F(ImageBuilderTest, BuildsImageAndModelArtifactFromTheStore) {
  Store s = OpenStore("a");
  std::map<std::string, std::string> weights = {
      {"model-00001-of-00002.safetensors", SeededBytes(200'000, 1)},
      {"model-00002-of-00002.safetensors", SeededBytes(100'001, 2)},
      {"sub/adapter.bin", SeededBytes(3'000, 3)}};
  std::string commit = CommitModel(weights, {&s});
  uint64_t lfs_bytes_before = *DiskUsageBytes(dir_->path() / "a" / "lfs");
  auto built = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 1000);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->commit, commit);
  EXPECT_EQ(built->layers, 2u + weights.size());  // extra files, small files, one per weight
  EXPECT_EQ(built->hashed_layers, weights.size());
  EXPECT_FALSE(built->merged_weights);
  EXPECT_EQ(built->image.tags, (std::vector<std::string>{"main", commit}));
  EXPECT_EQ(built->model.tags, (std::vector<std::string>{"main-model", commit + "-model"}));
  // Nothing of the weights was written again: the OCI blobs are metadata and small files.
  EXPECT_EQ(*DiskUsageBytes(dir_->path() / "a" / "lfs"), lfs_bytes_before);
  EXPECT_LT(*DiskUsageBytes(dir_->path() / "a" / "oci"), 100'000u);

  auto manifest = json::parse(*s.oci->Read(built->image.digest)).as_object();
  EXPECT_EQ(manifest["mediaType"].as_string(), kOciManifestType);
  auto& ann = manifest["annotations"].as_object();
  EXPECT_EQ(ann["org.opencontainers.image.revision"].as_string(), commit);
  EXPECT_EQ(ann["org.opencontainers.image.source"].as_string(), "https://huggingface.co/org/tiny");
  EXPECT_EQ(ann["org.opencontainers.image.ref.name"].as_string(), "main");
  EXPECT_EQ(ann["org.opencontainers.image.base.name"].as_string(), "scratch");
  std::string created(ann["org.opencontainers.image.created"].as_string());
  std::string commit_time = *work_->Run({"show", "-s", "--format=%ct", "HEAD"});
  EXPECT_EQ(created, Rfc3339(std::stoll(commit_time)));

  std::string config_digest(manifest["config"].as_object()["digest"].as_string());
  auto config = json::parse(*s.oci->Read(config_digest)).as_object();
  EXPECT_EQ(config["created"].as_string(), created);
  auto& c = config["config"].as_object();
  EXPECT_EQ(json::serialize(c["Entrypoint"]), "[\"/usr/local/bin/serve\"]");
  EXPECT_EQ(json::serialize(c["Cmd"]), "[\"--port\",\"8000\"]");
  EXPECT_TRUE(c["ExposedPorts"].as_object().contains("8000/tcp"));
  std::string env = json::serialize(c["Env"]);
  for (std::string want : {"NVIDIA_REQUIRE_CUDA=cuda>=12.1", "NVIDIA_VISIBLE_DEVICES=all",
                           "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "HF_HUB_OFFLINE=1",
                           "MODEL_DIR=/models/org/tiny"}) {
    EXPECT_NE(env.find("\"" + want + "\""), std::string::npos) << env;
  }
  EXPECT_EQ(config["rootfs"].as_object()["diff_ids"].as_array().size(), built->layers);

  // The model artifact's weight layers are the LFS objects themselves.
  auto model = json::parse(*s.oci->Read(built->model.digest)).as_object();
  EXPECT_EQ(model["artifactType"].as_string(), kModelArtifactType);
  EXPECT_EQ(model["config"].as_object()["mediaType"].as_string(), kModelConfigType);
  std::map<std::string, std::string> raw;  // filepath -> digest, weights only
  for (const json::value& l : model["layers"].as_array()) {
    const auto& o = l.as_object();
    if (o.at("mediaType").as_string() != kModelWeightType) continue;
    raw[std::string(o.at("annotations").as_object().at(kModelFilepathAnnotation).as_string())] =
        std::string(o.at("digest").as_string());
  }
  ASSERT_EQ(raw.size(), weights.size());
  for (const auto& [path, content] : weights) EXPECT_EQ(raw[path], "sha256:" + Sha256Hex(content));

  // The catalog serves both under their tags, and knows which blobs each name may serve.
  auto tag = s.catalog->GetImage("tiny", "main");
  ASSERT_TRUE(tag.ok()) << tag.status().ToString();
  EXPECT_EQ(tag->digest, built->image.digest);
  EXPECT_EQ(tag->commit, commit);
  EXPECT_EQ(s.catalog->GetImage("tiny", "main-model")->digest, built->model.digest);
  EXPECT_TRUE(*s.catalog->NameReferencesBlob("tiny", config_digest));
  EXPECT_TRUE(*s.catalog->NameReferencesBlob("tiny", raw.begin()->second));
  EXPECT_FALSE(*s.catalog->NameReferencesBlob("other", config_digest));

  // Unpacking the layers gives the weights byte for byte, the binary and the small files.
  fs::path rootfs = dir_->path() / "rootfs";
  Unpack(s, built->image.digest, rootfs);
  for (const auto& [path, content] : weights) {
    EXPECT_EQ(*ReadFileToString(rootfs / "models/org/tiny" / path), content) << path;
  }
  EXPECT_EQ(*ReadFileToString(rootfs / "models/org/tiny/config.json"), "{\"hidden_size\": 64}\n");
  EXPECT_EQ(*ReadFileToString(rootfs / "usr/local/bin/serve"), binary_);
  EXPECT_EQ(fs::status(rootfs / "usr/local/bin/serve").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
}

TEST_F(ImageBuilderTest, TwoIndependentStoresBuildTheSameDigests) {
  Store a = OpenStore("a");
  Store b = OpenStore("b");
  std::string commit = CommitModel(
      {{"w.safetensors", SeededBytes(50'000, 4)}, {"x/y.bin", SeededBytes(7'000, 5)}}, {&a, &b});
  auto one = BuildImage(Recipe(), Inputs(Mirror("first")), a.stores(), 100);
  auto two = BuildImage(Recipe(), Inputs(Mirror("second")), b.stores(), 999'999);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(one->image.digest, two->image.digest);
  EXPECT_EQ(one->model.digest, two->model.digest);
  EXPECT_EQ(*a.oci->Read(one->image.digest), *b.oci->Read(two->image.digest));
  ASSERT_FALSE(one->image.docker_digest.empty());
  EXPECT_EQ(one->image.docker_digest, two->image.docker_digest);
  EXPECT_EQ(one->commit, commit);
}

TEST_F(ImageBuilderTest, RebuildAfterOneShardChangedHashesOnlyThatShard) {
  Store s = OpenStore("a");
  std::map<std::string, std::string> weights;
  for (int i = 0; i < 4; ++i) {
    weights["shard-" + std::to_string(i) + ".bin"] = SeededBytes(30'000, 10 + i);
  }
  CommitModel(weights, {&s});
  auto first = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->hashed_layers, 4u);
  weights["shard-2.bin"] = SeededBytes(30'000, 99);
  std::string commit = CommitModel(weights, {&s});
  auto second = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->commit, commit);
  EXPECT_EQ(second->hashed_layers, 1u);
  EXPECT_NE(second->image.digest, first->image.digest);
  EXPECT_EQ(s.catalog->GetImage("tiny", "main")->digest, second->image.digest);
  // The first build's commit tag still names the first image.
  EXPECT_EQ(s.catalog->GetImage("tiny", first->commit)->digest, first->image.digest);
}

TEST_F(ImageBuilderTest, ExtraFileWithAnotherHashIsRefusedAndNothingIsPublished) {
  Store s = OpenStore("a");
  CommitModel({{"w.bin", SeededBytes(1'000, 6)}}, {&s});
  BuildRecipe r = Recipe();
  r.files[0].sha256 = Sha256Hex("something else");
  auto built = BuildImage(r, Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kDataLoss) << built.status().ToString();
  EXPECT_EQ(s.catalog->GetImage("tiny", "main").status().code(), StatusCode::kNotFound);
  r.files[0].source = dir_->path() / "missing";
  EXPECT_EQ(BuildImage(r, Inputs(Mirror("m")), s.stores(), 1).status().code(),
            StatusCode::kNotFound);
}

TEST_F(ImageBuilderTest, LargeExtraFileWithAnotherHashLeavesNoBlob) {
  Store s = OpenStore("a");
  CommitModel({{"w.bin", SeededBytes(1'000, 6)}}, {&s});
  // Several read chunks: the layer is partly written when the mismatch shows at the end.
  const std::string big = SeededBytes((3 << 20) + 123, 61);
  ASSERT_TRUE(WriteFileAtomically(dir_->path() / "big", big, 0755).ok());
  BuildRecipe r = Recipe();
  r.files[0].source = dir_->path() / "big";
  r.files[0].sha256 = Sha256Hex(big.substr(1));
  auto built = BuildImage(r, Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kDataLoss) << built.status().ToString();
  // The extra files' layer is the build's first OCI blob (scratch base): nothing stored,
  // no partial left behind.
  EXPECT_TRUE(fs::is_empty(s.oci->root() / "blobs" / "sha256"));
  EXPECT_TRUE(fs::is_empty(s.oci->root() / "incomplete"));
  EXPECT_EQ(s.catalog->GetImage("tiny", "main").status().code(), StatusCode::kNotFound);

  // With the right pin the same file builds, and its layer holds the file's bytes.
  r.files[0].sha256 = Sha256Hex(big);
  built = BuildImage(r, Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  fs::path out = dir_->path() / "unpacked";
  Unpack(s, built->image.digest, out);
  auto served = ReadFileToString(out / "usr/local/bin/serve");
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_TRUE(*served == big);
  EXPECT_TRUE(fs::is_empty(s.oci->root() / "incomplete"));
}

TEST_F(ImageBuilderTest, MissingLfsObjectOrRefFailsBeforeBuilding) {
  Store s = OpenStore("a");
  Store elsewhere = OpenStore("b");
  CommitModel({{"w.bin", SeededBytes(1'000, 7)}}, {&elsewhere});  // not in s
  auto built = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kFailedPrecondition) << built.status().ToString();
  EXPECT_EQ(s.catalog->GetImage("tiny", "main").status().code(), StatusCode::kNotFound);
  BuildInputs in = Inputs(Mirror("m"));
  in.ref = "refs/heads/nope";
  EXPECT_EQ(BuildImage(Recipe(), in, elsewhere.stores(), 1).status().code(), StatusCode::kNotFound);
  BuildRecipe r = Recipe();
  r.base = "registry.lab:5000/cuda:12.1";
  EXPECT_EQ(BuildImage(r, Inputs(Mirror("m")), elsewhere.stores(), 1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ImageBuilderTest, WeightsBeyondTheLayerCapAreMergedInPathOrder) {
  Store s = OpenStore("a");
  std::map<std::string, std::string> weights;
  for (int i = 0; i < 130; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "w/%03d.bin", i);
    weights[name] = SeededBytes(100 + i, 1000 + i);
  }
  CommitModel(weights, {&s});
  auto built = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->layers, kMaxImageLayers);
  EXPECT_TRUE(built->merged_weights);
  fs::path rootfs = dir_->path() / "rootfs";
  Unpack(s, built->image.digest, rootfs);
  for (const auto& [path, content] : weights) {
    EXPECT_EQ(*ReadFileToString(rootfs / "models/org/tiny" / path), content) << path;
  }
}

TEST_F(ImageBuilderTest, TagTemplates) {
  std::string c(40, 'a');
  EXPECT_EQ(ExpandTagTemplate("{ref}", "refs/heads/main", c), "main");
  EXPECT_EQ(ExpandTagTemplate("{ref}", "refs/heads/feature/x", c), "feature-x");
  EXPECT_EQ(ExpandTagTemplate("{ref}-{commit}", "refs/tags/v1.0", c), "v1.0-" + c);
  EXPECT_EQ(ExpandTagTemplate("{ref}", "refs/heads/.hidden", c), "_hidden");
  EXPECT_EQ(ExpandTagTemplate("{ref}", "refs/heads/" + std::string(200, 'b'), c).size(), 128u);
}

}  // namespace
}  // namespace mirrord

namespace mirrord {
namespace {

TEST_F(ImageBuilderTest, GpuImagesStartThroughThePreflight) {
  Store s = OpenStore("p");
  const std::string weight = SeededBytes(3'500'000, 7);  // over 3 MiB: three samples
  CommitModel({{"model.safetensors", weight}}, {&s});
  BuildInputs in = Inputs(Mirror("m"));
  in.preflight_bundle = MIRRORD_PREFLIGHT_BUNDLE;
  auto built = BuildImage(Recipe(), in, s.stores(), 1000);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->layers, 4u + 1u);  // extra files, preflight, small files, manifest, weight

  auto manifest = json::parse(*s.oci->Read(built->image.digest)).as_object();
  std::string config_digest(manifest["config"].as_object()["digest"].as_string());
  auto config = json::parse(*s.oci->Read(config_digest)).as_object();
  auto& c = config["config"].as_object();
  json::array want;
  for (const std::string& a : PreflightEntrypoint()) want.emplace_back(a);
  want.emplace_back("/usr/local/bin/serve");
  EXPECT_EQ(json::serialize(c["Entrypoint"]), json::serialize(want));
  EXPECT_EQ(json::serialize(c["Cmd"]), "[\"--port\",\"8000\"]");

  fs::path root = dir_->path() / "rootfs";
  Unpack(s, built->image.digest, root);
  for (const char* f :
       {".mirrord/preflight/bin/mirrord-preflight", ".mirrord/preflight/lib/ld-linux-x86-64.so.2",
        ".mirrord/preflight/lib/libc.so.6"}) {
    EXPECT_TRUE(fs::is_regular_file(root / f)) << f;
  }
  EXPECT_NE(fs::status(root / ".mirrord/preflight/bin/mirrord-preflight").permissions() &
                fs::perms::owner_exec,
            fs::perms::none);
  auto text = ReadFileToString(root / "etc/mirrord/preflight.manifest");
  ASSERT_TRUE(text.ok());
  auto m = preflight::ParseManifest(*text);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->require_cuda, "cuda>=12.1");
  EXPECT_EQ(m->gpu_count, 1);
  EXPECT_EQ(m->min_gpu_memory, preflight::DefaultMinGpuMemory(weight.size()));
  ASSERT_EQ(m->files.size(), 1u);
  EXPECT_EQ(m->files[0].path, "/models/org/tiny/model.safetensors");
  EXPECT_EQ(m->files[0].sha256, Sha256Hex(weight));  // the LFS oid
  ASSERT_EQ(m->samples.size(), 3u);
  for (const auto& sample : m->samples) {
    EXPECT_EQ(sample.sha256, Sha256Hex(weight.substr(sample.offset, sample.length)));
  }

  // The same revision built by a second store: the same digests (the bundle layer too).
  Store t = OpenStore("q");
  PutObject(*t.lfs, weight);
  auto again = BuildImage(Recipe(), in, t.stores(), 2000);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->image.digest, built->image.digest);
}

TEST_F(ImageBuilderTest, PreflightOffOrCpuImagesKeepTheirEntrypoint) {
  Store s = OpenStore("p");
  CommitModel({{"w.bin", SeededBytes(1000, 1)}}, {&s});
  BuildInputs in = Inputs(Mirror("m"));
  in.preflight_bundle = MIRRORD_PREFLIGHT_BUNDLE;
  for (int variant = 0; variant < 2; ++variant) {
    BuildRecipe r = Recipe();
    if (variant == 0) r.preflight = false;
    if (variant == 1) r.nvidia_visible_devices = "void";
    auto built = BuildImage(r, in, s.stores(), 1000);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_EQ(built->layers, 3u) << variant;
    auto manifest = json::parse(*s.oci->Read(built->image.digest)).as_object();
    std::string config_digest(manifest["config"].as_object()["digest"].as_string());
    auto config = json::parse(*s.oci->Read(config_digest)).as_object();
    EXPECT_EQ(json::serialize(config["config"].as_object()["Entrypoint"]),
              "[\"/usr/local/bin/serve\"]");
  }
}

TEST_F(ImageBuilderTest, MissingPreflightBundleIsAClearError) {
  Store s = OpenStore("p");
  CommitModel({{"w.bin", SeededBytes(1000, 1)}}, {&s});
  BuildInputs in = Inputs(Mirror("m"));
  in.preflight_bundle = dir_->path() / "no-such-bundle";
  auto built = BuildImage(Recipe(), in, s.stores(), 1000);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), StatusCode::kNotFound);
  EXPECT_NE(built.status().message().find("preflight = false"), std::string::npos);
}

// The Docker schema 2 twin: the same config and layers (digests and sizes), Docker media
// types, no annotations; the catalog's tags name both; the model artifact has none.
TEST_F(ImageBuilderTest, ImagesHaveADockerSchema2Twin) {
  Store s = OpenStore("a");
  CommitModel({{"w.safetensors", SeededBytes(20'000, 7)}}, {&s});
  auto built = BuildImage(Recipe(), Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_TRUE(IsValidSha256Digest(built->image.docker_digest));
  std::string docker_bytes = *s.oci->Read(built->image.docker_digest);
  EXPECT_EQ("sha256:" + Sha256Hex(docker_bytes), built->image.docker_digest);
  json::object docker = json::parse(docker_bytes).as_object();
  json::object oci = json::parse(*s.oci->Read(built->image.digest)).as_object();
  EXPECT_EQ(docker["schemaVersion"].as_int64(), 2);
  EXPECT_EQ(docker["mediaType"].as_string(), kDockerManifestType);
  EXPECT_FALSE(docker.contains("annotations"));
  EXPECT_EQ(docker["config"].as_object()["mediaType"].as_string(), kDockerConfigType);
  EXPECT_EQ(docker["config"].as_object()["digest"], oci["config"].as_object()["digest"]);
  EXPECT_EQ(docker["config"].as_object()["size"], oci["config"].as_object()["size"]);
  const json::array& dl = docker["layers"].as_array();
  const json::array& ol = oci["layers"].as_array();
  ASSERT_EQ(dl.size(), ol.size());
  for (size_t i = 0; i < dl.size(); ++i) {
    EXPECT_EQ(dl[i].as_object().at("mediaType").as_string(), kDockerTarLayerType);
    EXPECT_EQ(dl[i].as_object().at("digest"), ol[i].as_object().at("digest"));
    EXPECT_EQ(dl[i].as_object().at("size"), ol[i].as_object().at("size"));
  }
  EXPECT_EQ(s.catalog->GetImage("tiny", "main")->docker_digest, built->image.docker_digest);
  EXPECT_EQ(s.catalog->GetImage("tiny", "main-model")->docker_digest, "");
  auto found = s.catalog->FindManifest("tiny", built->image.docker_digest);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->digest, built->image.digest);
  // A layer type Docker schema 2 cannot name: no twin.
  EXPECT_FALSE(DockerManifestJson(
                   {kOciConfigType, built->image.digest, 1, {}},
                   {{"application/vnd.oci.image.layer.v1.tar+zstd", built->image.digest, 1, {}}})
                   .has_value());
}

// Everything a manifest needs to be served: its config and layers in the OciStore, the
// tar_layers cache (generated layers) or the LFS store (raw layers).
void ExpectServable(Store& s, const std::string& manifest_digest) {
  ASSERT_TRUE(s.oci->Contains(manifest_digest)) << manifest_digest;
  json::object m = json::parse(*s.oci->Read(manifest_digest)).as_object();
  EXPECT_TRUE(s.oci->Contains(std::string(m["config"].as_object()["digest"].as_string())));
  for (const json::value& l : m["layers"].as_array()) {
    std::string d(l.as_object().at("digest").as_string());
    bool there = s.oci->Contains(d) || s.lfs->Contains(d.substr(7));
    if (!there) {
      auto rec = s.catalog->FindTarLayerByDigest(d);
      there = rec.ok() && rec->has_value();
    }
    EXPECT_TRUE(there) << manifest_digest << " needs " << d;
  }
}

TEST_F(ImageBuilderTest, RetentionKeepsTheNewestPerRefAndCollectsWhatOnlyTheDroppedUsed) {
  Store s = OpenStore("a");
  BuildRecipe recipe = Recipe();
  recipe.keep = 2;
  const std::string shared = SeededBytes(20'000, 30);
  auto layer_digests = [&](const std::string& manifest) {
    std::vector<std::string> out;
    json::object m = json::parse(*s.oci->Read(manifest)).as_object();
    for (const json::value& l : m["layers"].as_array()) {
      out.emplace_back(l.as_object().at("digest").as_string());
    }
    return out;
  };
  std::vector<BuildOutcome> builds;
  std::vector<std::string> changing, own_layer, shared_layer;
  for (int i = 0; i < 4; ++i) {
    changing.push_back(SeededBytes(10'000, 40 + i));
    CommitModel({{"a.safetensors", shared}, {"b.safetensors", changing.back()}}, {&s});
    auto built = BuildImage(recipe, Inputs(Mirror("m")), s.stores(), 100 + i);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    builds.push_back(*built);
    std::vector<std::string> layers = layer_digests(built->image.digest);
    own_layer.push_back(layers.back());                 // b.safetensors
    shared_layer.push_back(layers[layers.size() - 2]);  // a.safetensors
  }
  EXPECT_EQ(shared_layer[0], shared_layer[3]);
  EXPECT_TRUE(builds[0].dropped_commits.empty());
  EXPECT_TRUE(builds[1].dropped_commits.empty());
  EXPECT_EQ(builds[2].dropped_commits, std::vector<std::string>{builds[0].commit});
  EXPECT_EQ(builds[3].dropped_commits, std::vector<std::string>{builds[1].commit});

  // Listed: the ref tag and the two newest commits, each with its model artifact.
  auto tags = s.catalog->ListImages("tiny");
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(tags->size(), 6u);
  EXPECT_EQ(s.catalog->GetImage("tiny", "main")->digest, builds[3].image.digest);
  for (int i : {2, 3}) {
    SCOPED_TRACE(i);
    EXPECT_EQ(s.catalog->GetImage("tiny", builds[i].commit)->digest, builds[i].image.digest);
    EXPECT_TRUE(s.catalog->GetImage("tiny", builds[i].commit + "-model").ok());
    ExpectServable(s, builds[i].image.digest);
    ExpectServable(s, builds[i].model.digest);
    EXPECT_TRUE(s.catalog->FindTarLayerByDigest(own_layer[i])->has_value());
  }
  for (int i : {0, 1}) {
    SCOPED_TRACE(i);
    EXPECT_EQ(s.catalog->GetImage("tiny", builds[i].commit).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(s.catalog->GetImage("tiny", builds[i].commit + "-model").status().code(),
              StatusCode::kNotFound);
    // Its manifests (OCI, Docker, model) and the cache row of the layer only it used...
    EXPECT_FALSE(s.oci->Contains(builds[i].image.digest));
    EXPECT_FALSE(s.oci->Contains(builds[i].image.docker_digest));
    EXPECT_FALSE(s.oci->Contains(builds[i].model.digest));
    EXPECT_FALSE(s.catalog->FindTarLayerByDigest(own_layer[i])->has_value());
    // ...but never an LFS object.
    EXPECT_TRUE(s.lfs->Contains(Sha256Hex(changing[i])));
  }
  EXPECT_TRUE(s.catalog->FindTarLayerByDigest(shared_layer[0])->has_value());
  auto unlisted = s.catalog->FindUnlistedBlobs();
  ASSERT_TRUE(unlisted.ok());
  EXPECT_TRUE(unlisted->manifests.empty());
  EXPECT_TRUE(unlisted->blobs.empty());
}

TEST_F(ImageBuilderTest, DroppedLayerCacheRowsAreForgotten) {
  Store s = OpenStore("a");
  BuildRecipe recipe = Recipe();
  recipe.keep = 1;
  CommitModel({{"b.safetensors", SeededBytes(10'000, 50)}}, {&s});
  auto first = BuildImage(recipe, Inputs(Mirror("m")), s.stores(), 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  json::object m = json::parse(*s.oci->Read(first->image.digest)).as_object();
  std::string first_layer(m["layers"].as_array().back().as_object().at("digest").as_string());
  std::string first_config(m["config"].as_object()["digest"].as_string());
  ASSERT_TRUE(s.catalog->FindTarLayerByDigest(first_layer)->has_value());
  CommitModel({{"b.safetensors", SeededBytes(10'000, 51)}}, {&s});
  auto second = BuildImage(recipe, Inputs(Mirror("m")), s.stores(), 2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->dropped_commits, std::vector<std::string>{first->commit});
  EXPECT_FALSE(s.catalog->FindTarLayerByDigest(first_layer)->has_value());
  EXPECT_FALSE(s.oci->Contains(first_config));
  EXPECT_FALSE(s.oci->Contains(first->image.digest));
  ExpectServable(s, second->image.digest);
  // The same commit built again is the newest again, and nothing is dropped.
  auto again = BuildImage(recipe, Inputs(Mirror("m")), s.stores(), 3);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->dropped_commits.empty());
  ExpectServable(s, again->image.digest);
}

// A crash after unlisting (before or during the collection): the next collection, as run
// at startup, removes what the unlisted images left and nothing a listed one uses.
TEST_F(ImageBuilderTest, CollectorFinishesAfterACrashBetweenUnlistAndCollect) {
  Store s = OpenStore("a");
  BuildRecipe recipe = Recipe();
  recipe.keep = 5;
  std::vector<BuildOutcome> builds;
  for (int i = 0; i < 3; ++i) {
    CommitModel({{"b.safetensors", SeededBytes(10'000, 60 + i)}}, {&s});
    auto built = BuildImage(recipe, Inputs(Mirror("m")), s.stores(), 10 + i);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    builds.push_back(*built);
  }
  // The crash: step 1 done, step 2 never ran.
  auto dropped = s.catalog->UnlistOldImages("tiny", "refs/heads/main", 1);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->size(), 4u);  // two commits: image and model tag each
  EXPECT_TRUE(s.oci->Contains(builds[0].image.digest));
  // And a crash halfway through the collection: one blob file already gone.
  ASSERT_TRUE(s.oci->Remove(builds[1].image.docker_digest).ok());
  auto collected = CollectUnlistedImages(*s.catalog, *s.oci);
  ASSERT_TRUE(collected.ok()) << collected.status().ToString();
  EXPECT_EQ(collected->manifests, 4u);  // image and model manifests of two commits
  EXPECT_GT(collected->blobs_removed, 4u);
  for (int i : {0, 1}) {
    EXPECT_FALSE(s.oci->Contains(builds[i].image.digest));
    EXPECT_FALSE(s.oci->Contains(builds[i].image.docker_digest));
    EXPECT_FALSE(s.oci->Contains(builds[i].model.digest));
  }
  ExpectServable(s, builds[2].image.digest);
  ExpectServable(s, builds[2].model.digest);
  // Idempotent: nothing left to do.
  auto again = CollectUnlistedImages(*s.catalog, *s.oci);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->manifests, 0u);
  EXPECT_EQ(again->blobs_removed, 0u);
}

}  // namespace
}  // namespace mirrord
