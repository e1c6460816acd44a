#include "deploy/image_reference.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(ImageReferenceTest, RegistryNameTagAndDigest) {
  auto r = ParseImageReference("registry.lab:5000/cuda/runtime:12.1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registry, "registry.lab:5000");
  EXPECT_EQ(r->repository, "cuda/runtime");
  EXPECT_EQ(r->tag, "12.1");
  EXPECT_EQ(r->reference(), "12.1");
  std::string digest = "sha256:" + std::string(64, 'b');
  r = ParseImageReference("localhost/base:v1@" + digest);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registry, "localhost");
  EXPECT_EQ(r->reference(), digest);  // a pinned digest wins over the tag
  EXPECT_EQ(r->ToString(), "localhost/base:v1@" + digest);
  r = ParseImageReference("ubuntu:22.04");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "library/ubuntu");
  r = ParseImageReference("nvidia/cuda:12.1.0-runtime-ubuntu22.04");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repository, "nvidia/cuda");
}

TEST(ImageReferenceTest, BadReferencesAreRefused) {
  for (std::string_view bad : {"scratch", "", "registry.lab/cuda", "Registry.lab/CUDA:1",
                               "registry.lab/cuda:bad/tag", "registry.lab/cuda@sha256:12",
                               "registry.lab/cuda@md5:" }) {
    auto r = ParseImageReference(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace mirrord
