// The usage lines `mirrorctl images` prints (daemon/images_api.h).
#include "daemon/images_api.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(ImageUsageTest, GpuImageGetsGpusShmAndEveryPort) {
  BuildRecipe r;
  r.name = "lab/glm";
  r.ports = {"8000", "9000/tcp", "5353/udp"};
  r.shm_size = "32g";
  ImageUsage u = ImageUsageFor("mirror.lab:8080", "lab/glm", "main", &r);
  EXPECT_EQ(u.pull, "docker pull mirror.lab:8080/lab/glm:main");
  EXPECT_EQ(u.run,
            "docker run --rm --gpus all --shm-size 32g -p 8000:8000 -p 9000:9000 "
            "-p 5353:5353/udp mirror.lab:8080/lab/glm:main");
}

TEST(ImageUsageTest, CpuImageAndNoRecipe) {
  BuildRecipe r;
  r.nvidia_visible_devices = "none";
  EXPECT_EQ(ImageUsageFor("h:1", "cpu", "v1", &r).run, "docker run --rm h:1/cpu:v1");
  BuildRecipe no_shm;
  no_shm.shm_size = "";
  EXPECT_EQ(ImageUsageFor("h:1", "g", "t", &no_shm).run, "docker run --rm --gpus all h:1/g:t");
  ImageUsage orphan = ImageUsageFor("h:1", "gone", "t", nullptr);
  EXPECT_EQ(orphan.pull, "docker pull h:1/gone:t");
  EXPECT_EQ(orphan.run, "");
}

TEST(ImageUsageTest, GpuMemoryNeedIsTheRecipesOrTheWeightsPlusAFifth) {
  BuildRecipe r;
  EXPECT_EQ(GpuMemoryNeed(r, 1000), 1200u);
  r.min_gpu_memory = 5;
  EXPECT_EQ(GpuMemoryNeed(r, 1000), 5u);
  r.min_gpu_memory = 0;
  r.gpu_count = 0;
  EXPECT_EQ(GpuMemoryNeed(r, 1000), 0u);
}

}  // namespace
}  // namespace mirrord
