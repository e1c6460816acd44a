#include "deploy/oci_archive.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "deploy/oci_json.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::RunProcessOk;
using test::SeededBytes;

std::string Digest(std::string_view bytes) { return "sha256:" + Sha256Hex(bytes); }

// An image of a config and layers whose bytes the test holds.
struct TestImage {
  OciArchiveImage image;
  std::map<std::string, std::string> blobs;  // digest -> bytes
};

TestImage MakeImage(const std::vector<std::string>& layer_bytes, bool docker = true) {
  TestImage t;
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
  OciDescriptor cfg{kOciConfigType, Digest(config), config.size(), {}};
  t.blobs[cfg.digest] = config;
  std::vector<OciDescriptor> layers;
  for (const std::string& b : layer_bytes) {
    layers.push_back(OciDescriptor{kOciTarLayerType, Digest(b), b.size(), {}});
    t.blobs[Digest(b)] = b;
  }
  t.image.name = "lab/glm-4";
  t.image.tag = "main";
  t.image.manifest_bytes = ManifestJson("", cfg, layers, {});
  t.image.manifest_digest = Digest(t.image.manifest_bytes);
  t.image.manifest_media_type = kOciManifestType;
  t.image.docker_loadable = docker;
  return t;
}

Result<std::string> Render(const OciArchive& archive,
                           const std::map<std::string, std::string>& blobs, size_t chunk = 1000) {
  std::string out;
  Status s = WriteOciArchive(
      archive,
      [&](const OciArchiveBlob& blob, const std::function<Status(std::string_view)>& sink) {
        std::string_view b = blobs.at(blob.digest);
        for (size_t at = 0; at < b.size(); at += chunk) RETURN_IF_ERROR(sink(b.substr(at, chunk)));
        return Status::Ok();
      },
      [&](std::string_view data) {
        out.append(data);
        return Status::Ok();
      });
  if (!s.ok()) return s;
  return out;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OciArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-ociarchive-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  fs::path Write(const std::string& bytes) {
    fs::path p = dir_->path() / "image.tar";
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::optional<test::TempDir> dir_;
};

TEST_F(OciArchiveTest, GnuTarReadsTheLayoutAndEveryBlobHashesToItsName) {
  // A layer over 512 bytes and not a multiple of it, an empty one, and one repeated.
  TestImage t = MakeImage({SeededBytes(5000, 1), "", SeededBytes(1536, 2), SeededBytes(5000, 1)});
  Result<OciArchive> archive = PlanOciArchive(t.image);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  Result<std::string> bytes = Render(*archive, t.blobs);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->size(), archive->size);
  EXPECT_EQ(bytes->size() % 512, 0u);

  fs::path tar = Write(*bytes);
  Result<std::string> listing = RunProcessOk({"tar", "-tf", tar.string()});
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  std::vector<std::string> expected = {"oci-layout", "index.json", "manifest.json", "blobs/",
                                       "blobs/sha256/"};
  expected.push_back("blobs/sha256/" + t.image.manifest_digest.substr(7));
  // The config, then the three distinct layers in the manifest's order.
  json::value m = json::parse(t.image.manifest_bytes);
  expected.push_back("blobs/sha256/" +
                     std::string(m.at("config").at("digest").as_string()).substr(7));
  for (size_t i = 0; i < 3; ++i) {
    expected.push_back("blobs/sha256/" +
                       std::string(m.at("layers").at(i).at("digest").as_string()).substr(7));
  }
  std::string want;
  for (const std::string& e : expected) want += e + "\n";
  EXPECT_EQ(*listing, want);

  fs::path out = dir_->path() / "out";
  fs::create_directories(out);
  ASSERT_TRUE(RunProcessOk({"tar", "-xf", tar.string(), "-C", out.string()}).ok());
  for (const fs::directory_entry& e : fs::directory_iterator(out / "blobs" / "sha256")) {
    Result<std::string> sum = Sha256OfFile(e.path());
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(*sum, e.path().filename().string());
  }
  EXPECT_EQ(ReadFile(out / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");

  json::value index = json::parse(ReadFile(out / "index.json"));
  EXPECT_EQ(index.at("schemaVersion").as_int64(), 2);
  const json::object& d = index.at("manifests").at(0).as_object();
  EXPECT_EQ(index.at("manifests").as_array().size(), 1u);
  EXPECT_EQ(d.at("digest").as_string(), t.image.manifest_digest);
  EXPECT_EQ(d.at("mediaType").as_string(), kOciManifestType);
  EXPECT_EQ(d.at("size").to_number<uint64_t>(), t.image.manifest_bytes.size());
  EXPECT_EQ(d.at("annotations").at("org.opencontainers.image.ref.name").as_string(), "main");

  json::value docker = json::parse(ReadFile(out / "manifest.json"));
  ASSERT_EQ(docker.as_array().size(), 1u);
  const json::object& entry = docker.at(0).as_object();
  EXPECT_EQ(entry.at("Config").as_string(), expected[6]);
  EXPECT_EQ(entry.at("RepoTags").at(0).as_string(), "lab/glm-4:main");
  // Docker's list follows the manifest, repeats included.
  ASSERT_EQ(entry.at("Layers").as_array().size(), 4u);
  EXPECT_EQ(entry.at("Layers").at(0).as_string(), expected[7]);
  EXPECT_EQ(entry.at("Layers").at(3).as_string(), expected[7]);
  EXPECT_EQ(entry.at("Layers").at(2).as_string(), expected[9]);
}

TEST_F(OciArchiveTest, SameImageSameBytesWhateverTheReadChunks) {
  TestImage t = MakeImage({SeededBytes(70000, 3), SeededBytes(1, 4)});
  Result<OciArchive> a = PlanOciArchive(t.image);
  Result<OciArchive> b = PlanOciArchive(t.image);
  ASSERT_TRUE(a.ok() && b.ok());
  Result<std::string> one = Render(*a, t.blobs, 7);
  Result<std::string> two = Render(*b, t.blobs, 1 << 20);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(*one, *two);
  EXPECT_EQ(Sha256Hex(*one), Sha256Hex(*two));
}

TEST_F(OciArchiveTest, ModelArtifactHasNoDockerManifest) {
  TestImage t = MakeImage({SeededBytes(100, 5)}, /*docker=*/false);
  Result<OciArchive> archive = PlanOciArchive(t.image);
  ASSERT_TRUE(archive.ok());
  Result<std::string> bytes = Render(*archive, t.blobs);
  ASSERT_TRUE(bytes.ok());
  Result<std::string> listing = RunProcessOk({"tar", "-tf", Write(*bytes).string()});
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->find("manifest.json"), std::string::npos);
  EXPECT_NE(listing->find("index.json"), std::string::npos);
}

TEST_F(OciArchiveTest, SizesAddUpForLayersBeyondTheUstarLimit) {
  // A 9 GiB layer is only planned: its size goes into a PAX record.
  TestImage t = MakeImage({});
  std::string config = t.blobs.begin()->second;
  OciDescriptor cfg{kOciConfigType, Digest(config), config.size(), {}};
  const uint64_t huge = 9ull << 30;
  OciDescriptor layer{kOciTarLayerType, Digest("x"), huge, {}};
  t.image.manifest_bytes = ManifestJson("", cfg, {layer}, {});
  t.image.manifest_digest = Digest(t.image.manifest_bytes);
  Result<OciArchive> archive = PlanOciArchive(t.image);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  uint64_t sum = 0, memory = 0;
  for (const OciArchivePart& p : archive->parts) {
    sum += p.length;
    if (!p.is_blob) {
      EXPECT_EQ(p.bytes.size(), p.length);
      memory += p.length;
    }
  }
  EXPECT_EQ(sum, archive->size);
  ASSERT_EQ(archive->blobs.size(), 2u);
  EXPECT_EQ(archive->blobs[1].size, huge);
  EXPECT_EQ(archive->size - memory, huge + config.size());
  // The layer's header part carries a PAX size record.
  bool pax = false;
  for (const OciArchivePart& p : archive->parts) {
    pax = pax || (!p.is_blob && p.bytes.find("size=" + std::to_string(huge)) != std::string::npos);
  }
  EXPECT_TRUE(pax);
  EXPECT_EQ(archive->size % 512, 0u);
}

TEST_F(OciArchiveTest, RefusesBadManifests) {
  TestImage t = MakeImage({"abc"});
  OciArchiveImage wrong_digest = t.image;
  wrong_digest.manifest_digest = Digest("other");
  EXPECT_EQ(PlanOciArchive(wrong_digest).status().code(), StatusCode::kInvalidArgument);

  for (std::string bad :
       {std::string("not json"), std::string(R"({"layers":[]})"),
        std::string(R"({"config":{"digest":"sha256:00","size":1},"layers":[]})"),
        std::string(R"({"config":{"digest":")" + Digest("c") + R"(","size":-1},"layers":[]})"),
        std::string(R"({"config":{"digest":")" + Digest("c") + R"(","size":1},"layers":{}})")}) {
    OciArchiveImage i = t.image;
    i.manifest_bytes = bad;
    i.manifest_digest = Digest(bad);
    EXPECT_EQ(PlanOciArchive(i).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  OciArchiveImage bad_tag = t.image;
  bad_tag.tag = "a:b";
  EXPECT_EQ(PlanOciArchive(bad_tag).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(OciArchiveTest, ABlobShorterOrLongerThanItsDescriptorIsDataLoss) {
  TestImage t = MakeImage({SeededBytes(2000, 6)});
  Result<OciArchive> archive = PlanOciArchive(t.image);
  ASSERT_TRUE(archive.ok());
  for (int delta : {-1, 1}) {
    std::map<std::string, std::string> blobs = t.blobs;
    std::string& layer = blobs[archive->blobs[1].digest];
    if (delta < 0)
      layer.pop_back();
    else
      layer.push_back('x');
    Result<std::string> out = Render(*archive, blobs);
    EXPECT_EQ(out.status().code(), StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace mirrord
