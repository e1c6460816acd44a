#include "common/page_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

namespace mirrord {
namespace {

// Whether [p, p + 1) lies in one of the process's mappings (/proc/self/maps).
bool Mapped(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) == 2 && addr >= begin && addr < end) {
      return true;
    }
  }
  return false;
}

TEST(PageBufferTest, MapsZeroedWritablePagesAndUnmapsThemWhenDestroyed) {
  const char* where = nullptr;
  {
    PageBuffer buffer(4u << 20);
    ASSERT_TRUE(buffer.valid());
    EXPECT_EQ(buffer.size(), 4u << 20);
    EXPECT_TRUE(
        std::all_of(buffer.data(), buffer.data() + buffer.size(), [](char c) { return c == 0; }));
    std::memset(buffer.data(), 'x', buffer.size());
    EXPECT_EQ(buffer.data()[buffer.size() - 1], 'x');
    where = buffer.data();
    EXPECT_TRUE(Mapped(where));
  }
  EXPECT_FALSE(Mapped(where));  // handed back to the kernel, not kept in the heap
}

TEST(PageBufferTest, EmptyAndMovedFromBuffersHoldNothing) {
  EXPECT_FALSE(PageBuffer().valid());
  EXPECT_FALSE(PageBuffer(0).valid());
  PageBuffer a(100);
  ASSERT_TRUE(a.valid());
  a.data()[99] = 'z';
  PageBuffer b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(a.size(), 0u);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.data()[99], 'z');
  PageBuffer c(10);
  const char* c_pages = c.data();
  c = std::move(b);
  EXPECT_FALSE(Mapped(c_pages));  // the pages it held before are unmapped
  EXPECT_EQ(c.size(), 100u);
  EXPECT_EQ(c.data()[99], 'z');
}

}  // namespace
}  // namespace mirrord
