#include "common/lfs_pointer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace mirrord {
namespace {

// The spec's example pointer (docs/spec.md), exactly as `git lfs` writes it.
constexpr std::string_view kSpecOid =
    "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
constexpr std::string_view kSpecPointer =
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n";

std::string Pointer(std::string_view oid_line, std::string_view size_line) {
  return "version https://git-lfs.github.com/spec/v1\n" + std::string(oid_line) + "\n" +
         std::string(size_line) + "\n";
}

std::string OidLine() { return "oid sha256:" + std::string(kSpecOid); }

TEST(LfsOidTest, AcceptsExactly64LowercaseHexDigits) {
  EXPECT_TRUE(IsValidLfsOid(kSpecOid));
  EXPECT_TRUE(IsValidLfsOid(std::string(64, '0')));
  EXPECT_TRUE(IsValidLfsOid(std::string(64, 'f')));
  EXPECT_FALSE(IsValidLfsOid(""));
  EXPECT_FALSE(IsValidLfsOid(std::string(63, 'a')));
  EXPECT_FALSE(IsValidLfsOid(std::string(65, 'a')));
  EXPECT_FALSE(IsValidLfsOid(std::string(64, 'g')));
  EXPECT_FALSE(IsValidLfsOid(std::string(64, 'A')));
  std::string upper(kSpecOid);
  upper[10] = 'D';
  EXPECT_FALSE(IsValidLfsOid(upper));
  std::string with_nul(kSpecOid);
  with_nul[0] = '\0';
  EXPECT_FALSE(IsValidLfsOid(with_nul));
}

TEST(LfsPointerTest, ParsesTheSpecExample) {
  std::optional<LfsPointer> p = ParseLfsPointer(kSpecPointer);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->oid, kSpecOid);
  EXPECT_EQ(p->size, 12345u);
}

TEST(LfsPointerTest, FormatWritesTheCanonicalText) {
  EXPECT_EQ(FormatLfsPointer({std::string(kSpecOid), 12345}), kSpecPointer);
  EXPECT_EQ(FormatLfsPointer({std::string(kSpecOid), 0}),
            "version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(kSpecOid) +
                "\nsize 0\n");
}

TEST(LfsPointerTest, AcceptsTheLegacyHawserVersion) {
  std::string legacy = "version https://hawser.github.com/spec/v1\n" + OidLine() + "\nsize 1\n";
  std::optional<LfsPointer> p = ParseLfsPointer(legacy);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->size, 1u);
}

TEST(LfsPointerTest, AcceptsSortedExtensionsAndReturnsTheFinalOid) {
  // The spec's extension example: ext-<priority>-<name> lines sort before oid.
  std::string hash0(64, '0'), hash1(64, '1'), hash2(64, '2');
  std::string text =
      "version https://git-lfs.github.com/spec/v1\n"
      "ext-0-foo sha256:" +
      hash0 +
      "\n"
      "ext-1-bar sha256:" +
      hash1 +
      "\n"
      "ext-2-baz sha256:" +
      hash2 + "\n" + OidLine() + "\nsize 12345\n";
  std::optional<LfsPointer> p = ParseLfsPointer(text);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->oid, kSpecOid);
  EXPECT_EQ(p->size, 12345u);
}

TEST(LfsPointerTest, RefusesBadExtensions) {
  std::string hash(64, 'a');
  auto with_ext = [&](std::string_view lines) {
    return "version https://git-lfs.github.com/spec/v1\n" + std::string(lines) + OidLine() +
           "\nsize 1\n";
  };
  // Sanity: one good extension is accepted, so the refusals below are about the defect.
  EXPECT_TRUE(ParseLfsPointer(with_ext("ext-0-foo sha256:" + hash + "\n")).has_value());
  // Out of order.
  EXPECT_FALSE(
      ParseLfsPointer(with_ext("ext-1-bar sha256:" + hash + "\next-0-foo sha256:" + hash + "\n"))
          .has_value());
  // Two extensions with one priority.
  EXPECT_FALSE(
      ParseLfsPointer(with_ext("ext-0-bar sha256:" + hash + "\next-0-foo sha256:" + hash + "\n"))
          .has_value());
  // Repeated key.
  EXPECT_FALSE(
      ParseLfsPointer(with_ext("ext-0-foo sha256:" + hash + "\next-0-foo sha256:" + hash + "\n"))
          .has_value());
  // Bad key shapes and values.
  for (std::string_view line : {"ext-x-foo sha256:", "ext-10-foo sha256:", "ext-0- sha256:",
                                "ext-0-Foo sha256:", "ext-0-foo_bar sha256:", "ext-0-foo md5:"}) {
    EXPECT_FALSE(ParseLfsPointer(with_ext(std::string(line) + hash + "\n")).has_value()) << line;
  }
  EXPECT_FALSE(ParseLfsPointer(with_ext("ext-0-foo sha256:" + hash.substr(1) + "\n")).has_value());
  // Extensions after oid are out of order.
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\n" + OidLine() +
                               "\next-0-foo sha256:" + hash + "\nsize 1\n")
                   .has_value());
}

TEST(LfsPointerTest, RefusesCrlfLineEndings) {
  std::string crlf =
      "version https://git-lfs.github.com/spec/v1\r\n" + OidLine() + "\r\nsize 12345\r\n";
  EXPECT_FALSE(ParseLfsPointer(crlf).has_value());
  // Only the last line with CRLF is refused too.
  EXPECT_FALSE(ParseLfsPointer(Pointer(OidLine(), "size 12345\r")).has_value());
}

TEST(LfsPointerTest, RefusesBlobsOf1024BytesOrMore) {
  // A valid pointer grown with extension lines whose names are padded: accepted up to
  // 1023 bytes, refused at 1024, whatever its content.
  auto grown = [&](size_t total) {
    std::string head = "version https://git-lfs.github.com/spec/v1\n";
    std::string tail = OidLine() + "\nsize 7\n";
    std::string ext_prefix = "ext-0-";
    std::string ext_suffix = " sha256:" + std::string(64, 'a') + "\n";
    size_t fixed = head.size() + tail.size() + ext_prefix.size() + ext_suffix.size();
    return head + ext_prefix + std::string(total - fixed, 'n') + ext_suffix + tail;
  };
  ASSERT_EQ(grown(kMaxLfsPointerSize - 1).size(), kMaxLfsPointerSize - 1);
  EXPECT_TRUE(ParseLfsPointer(grown(kMaxLfsPointerSize - 1)).has_value());
  ASSERT_EQ(grown(kMaxLfsPointerSize).size(), kMaxLfsPointerSize);
  EXPECT_FALSE(ParseLfsPointer(grown(kMaxLfsPointerSize)).has_value());
  EXPECT_FALSE(ParseLfsPointer(grown(4096)).has_value());
}

TEST(LfsPointerTest, RefusesMissingOrMalformedSize) {
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\n" + OidLine() + "\n")
                   .has_value());
  for (std::string_view size :
       {"size -1", "size +1", "size ", "size", "size 1.0", "size 1e3", "size 0x10", "size  1",
        "size 1 ", "size 12a", "size 9223372036854775808", "size 99999999999999999999"}) {
    EXPECT_FALSE(ParseLfsPointer(Pointer(OidLine(), size)).has_value()) << size;
  }
  std::optional<LfsPointer> max = ParseLfsPointer(Pointer(OidLine(), "size 9223372036854775807"));
  ASSERT_TRUE(max.has_value());
  EXPECT_EQ(max->size, 9223372036854775807u);
  // Leading zeros are still decimal (git-lfs reads them too); the value is what counts.
  std::optional<LfsPointer> padded = ParseLfsPointer(Pointer(OidLine(), "size 0012"));
  ASSERT_TRUE(padded.has_value());
  EXPECT_EQ(padded->size, 12u);
  std::optional<LfsPointer> zero = ParseLfsPointer(Pointer(OidLine(), "size 0"));
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->size, 0u);
}

TEST(LfsPointerTest, RefusesMissingOrMalformedOid) {
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\nsize 1\n").has_value());
  std::string upper(kSpecOid);
  upper[0] = 'D';
  for (const std::string& oid_line :
       {"oid sha256:" + upper, "oid sha256:" + std::string(kSpecOid.substr(1)),
        "oid sha256:" + std::string(kSpecOid) + "0", "oid sha1:" + std::string(kSpecOid),
        "oid " + std::string(kSpecOid), "oid sha256: " + std::string(kSpecOid),
        "oid  sha256:" + std::string(kSpecOid), "oid SHA256:" + std::string(kSpecOid)}) {
    EXPECT_FALSE(ParseLfsPointer(Pointer(oid_line, "size 1")).has_value()) << oid_line;
  }
}

TEST(LfsPointerTest, RefusesBadVersionAndOrder) {
  for (std::string_view version :
       {"version https://git-lfs.github.com/spec/v2", "version http://git-lfs.github.com/spec/v1",
        "version  https://git-lfs.github.com/spec/v1", "Version https://git-lfs.github.com/spec/v1",
        "version https://git-lfs.github.com/spec/v1 ", "version"}) {
    EXPECT_FALSE(
        ParseLfsPointer(std::string(version) + "\n" + OidLine() + "\nsize 1\n").has_value())
        << version;
  }
  // Version not first.
  EXPECT_FALSE(ParseLfsPointer(OidLine() + "\nversion https://git-lfs.github.com/spec/v1\nsize 1\n")
                   .has_value());
  // size before oid.
  EXPECT_FALSE(
      ParseLfsPointer("version https://git-lfs.github.com/spec/v1\nsize 1\n" + OidLine() + "\n")
          .has_value());
  // Repeated oid (sorted order requires strictly ascending keys).
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\n" + OidLine() + "\n" +
                               OidLine() + "\nsize 1\n")
                   .has_value());
  // Unknown key, even in sorted position.
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\n" + OidLine() +
                               "\nsize 1\nzzz 1\n")
                   .has_value());
}

TEST(LfsPointerTest, RefusesLayoutDefects) {
  std::string good(kSpecPointer);
  ASSERT_TRUE(ParseLfsPointer(good).has_value());
  EXPECT_FALSE(ParseLfsPointer(good.substr(0, good.size() - 1)).has_value());  // no final \n
  EXPECT_FALSE(ParseLfsPointer(good + "\n").has_value());                      // empty line
  EXPECT_FALSE(ParseLfsPointer("\n" + good).has_value());                      // empty line
  EXPECT_FALSE(ParseLfsPointer(" " + good).has_value());
  EXPECT_FALSE(ParseLfsPointer("").has_value());
  EXPECT_FALSE(ParseLfsPointer("\n").has_value());
  std::string with_nul = good;
  with_nul.insert(with_nul.size() - 1, 1, '\0');
  EXPECT_FALSE(ParseLfsPointer(with_nul).has_value());
  // Tab instead of space.
  EXPECT_FALSE(ParseLfsPointer(Pointer(OidLine(), "size\t12345")).has_value());
  // The file content of an ordinary text file mentioning LFS.
  EXPECT_FALSE(
      ParseLfsPointer("This repo uses git-lfs: https://git-lfs.github.com/spec/v1\n").has_value());
}

// Random single-byte edits of a valid pointer either are refused or parse to a pointer whose
// canonical text parses back to the same value.
TEST(LfsPointerTest, MutationsRoundTripThroughTheCanonicalForm) {
  std::mt19937_64 rng(31337);
  const std::string base(kSpecPointer);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0:
        s[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        s.erase(at, 1);
        break;
      default:
        s.insert(at, 1, static_cast<char>(rng() % 256));
    }
    std::optional<LfsPointer> p = ParseLfsPointer(s);
    if (!p) continue;
    ++accepted;
    EXPECT_TRUE(IsValidLfsOid(p->oid));
    std::optional<LfsPointer> again = ParseLfsPointer(FormatLfsPointer(*p));
    ASSERT_TRUE(again.has_value()) << s;
    EXPECT_EQ(*again, *p);
  }
  // Some edits (oid hex digit to another hex digit, size digits) keep a valid pointer.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace mirrord
