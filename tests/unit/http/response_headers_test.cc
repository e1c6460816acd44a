#include "http/response_headers.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

TEST(ResponseHeadersTest, KeepsTheLastResponsesHeadersCaseInsensitively) {
  ResponseHeaders h;
  h.OnLine("HTTP/1.1 302 Found\r\n");
  h.OnLine("Location: https://cdn/x\r\n");
  h.OnLine("\r\n");
  h.OnLine("HTTP/2 404 Not\tFound\r\n");
  h.OnLine("Content-Range:  bytes 0-1/2 \r\n");
  h.OnLine("X-Twice: first\r\n");
  h.OnLine("x-twice: second\r\n");
  h.OnLine("\r\n");
  EXPECT_EQ(h.Get("location"), std::nullopt);  // the redirect hop's
  EXPECT_EQ(h.Get("content-range"), "bytes 0-1/2");
  EXPECT_EQ(h.Get("X-TWICE"), "second");
  EXPECT_EQ(h.reason(), "Not Found");  // made safe for one line
  h.Clear();
  EXPECT_EQ(h.Get("X-Twice"), std::nullopt);
  EXPECT_EQ(h.reason(), "");
}

TEST(ResponseHeadersTest, AHostileFloodOfHeadersIsBounded) {
  ResponseHeaders h;
  h.OnLine("HTTP/1.1 200 OK\r\n");
  h.OnLine("Retry-After: 5\r\n");
  const std::string value(8000, 'v');
  for (int i = 0; i < 1000; ++i) h.OnLine("X-Junk-" + std::to_string(i) + ": " + value + "\r\n");
  EXPECT_EQ(h.Get("Retry-After"), "5");
  EXPECT_TRUE(h.Get("X-Junk-0").has_value());
  int kept = 0;
  for (int i = 0; i < 1000; ++i) kept += h.Get("X-Junk-" + std::to_string(i)).has_value();
  // ~8 MB offered, at most 64 KiB kept.
  EXPECT_LE(kept * value.size(), ResponseHeaders::kMaxHeaderBytes);
  EXPECT_GE(kept, 1);
}

TEST(ResponseHeadersTest, SplitsHeaderLines) {
  auto kv = SplitHeaderLine("Retry-After:  120 \r\n");
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->first, "Retry-After");
  EXPECT_EQ(kv->second, "120");
  EXPECT_FALSE(SplitHeaderLine("HTTP/1.1 200 OK\r\n").has_value());
  EXPECT_FALSE(SplitHeaderLine("\r\n").has_value());
  EXPECT_FALSE(SplitHeaderLine(": no name\r\n").has_value());
}

TEST(ResponseHeadersTest, FirstLineOfABodyIsSafeForALogLine) {
  EXPECT_EQ(FirstLineOf("bad token\nsecond line"), "bad token");
  EXPECT_EQ(FirstLineOf(std::string("a\x1b[31mb", 7)), "a [31mb");
  EXPECT_EQ(FirstLineOf("<html><body>502</body></html>"), "");
  EXPECT_EQ(FirstLineOf(std::string(500, 'x')), std::string(200, 'x') + "...");
}

}  // namespace
}  // namespace mirrord
