#include "lfs/http_range.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using Kind = HttpRangeSelection::Kind;

HttpRangeSelection Partial(uint64_t begin, uint64_t end) { return {Kind::kPartial, begin, end}; }
const HttpRangeSelection kWhole{Kind::kWhole, 0, 0};
const HttpRangeSelection kUnsatisfiable{Kind::kUnsatisfiable, 0, 0};

TEST(SelectHttpRangeTest, TheThreeSingleRangeForms) {
  // RFC 9110 §14.1.2's examples on a 10000-byte representation.
  EXPECT_EQ(SelectHttpRange("bytes=0-499", 10000), Partial(0, 500));
  EXPECT_EQ(SelectHttpRange("bytes=500-999", 10000), Partial(500, 1000));
  EXPECT_EQ(SelectHttpRange("bytes=-500", 10000), Partial(9500, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=9500-", 10000), Partial(9500, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=0-0", 10000), Partial(0, 1));
  EXPECT_EQ(SelectHttpRange("bytes=-1", 10000), Partial(9999, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=0-", 10000), Partial(0, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=9999-9999", 10000), Partial(9999, 10000));
}

TEST(SelectHttpRangeTest, ClampsToTheObject) {
  EXPECT_EQ(SelectHttpRange("bytes=100-20000", 10000), Partial(100, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=-20000", 10000), Partial(0, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=-10000", 10000), Partial(0, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=0-99999999999999999999999", 10000), Partial(0, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=-99999999999999999999999", 10000), Partial(0, 10000));
  EXPECT_EQ(SelectHttpRange("bytes=0-18446744073709551615", 10000), Partial(0, 10000));
  // Objects near the top of the range: no overflow in end = last + 1.
  constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(SelectHttpRange("bytes=5-", kHuge), Partial(5, kHuge));
  EXPECT_EQ(SelectHttpRange("bytes=5-18446744073709551614", kHuge), Partial(5, kHuge));
  EXPECT_EQ(SelectHttpRange("bytes=5-18446744073709551613", kHuge), Partial(5, kHuge - 1));
}

TEST(SelectHttpRangeTest, Unsatisfiable) {
  EXPECT_EQ(SelectHttpRange("bytes=10000-", 10000), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=10000-10001", 10000), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=99999999999999999999999-", 10000), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=-0", 10000), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=0-", 0), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=0-0", 0), kUnsatisfiable);
  EXPECT_EQ(SelectHttpRange("bytes=-0", 0), kUnsatisfiable);
}

TEST(SelectHttpRangeTest, EmptyObjectWithSuffixRangeIsServedWhole) {
  EXPECT_EQ(SelectHttpRange("bytes=-5", 0), kWhole);
}

TEST(SelectHttpRangeTest, ToleratesCaseWhitespaceAndEmptyListElements) {
  EXPECT_EQ(SelectHttpRange("Bytes=1-2", 10), Partial(1, 3));
  EXPECT_EQ(SelectHttpRange("BYTES=1-2", 10), Partial(1, 3));
  EXPECT_EQ(SelectHttpRange("  bytes=1-2\t", 10), Partial(1, 3));
  EXPECT_EQ(SelectHttpRange("bytes= 1-2 ", 10), Partial(1, 3));
  EXPECT_EQ(SelectHttpRange("bytes=1-2,", 10), Partial(1, 3));
  EXPECT_EQ(SelectHttpRange("bytes=, ,1-2", 10), Partial(1, 3));
}

TEST(SelectHttpRangeTest, SeveralRangesAreServedWhole) {
  EXPECT_EQ(SelectHttpRange("bytes=0-1,5-6", 10), kWhole);
  EXPECT_EQ(SelectHttpRange("bytes=0-1, -2", 10), kWhole);
  EXPECT_EQ(SelectHttpRange("bytes=20-30,40-50", 10), kWhole);  // even if none fits
  EXPECT_EQ(SelectHttpRange("bytes=0-1,0-1", 10), kWhole);
}

TEST(SelectHttpRangeTest, NoHeaderOtherUnitsAndInvalidSyntaxAreIgnored) {
  for (const char* header : {"",
                             "bytes",
                             "bytes=",
                             "bytes=,",
                             "bytes=-",
                             "bytes=--1",
                             "bytes=5-4",
                             "bytes=a-b",
                             "bytes=1-2-3",
                             "bytes=+1-2",
                             "bytes=1-+2",
                             "bytes=-+1",
                             "bytes=0x1-2",
                             "bytes=1.0-2",
                             "bytes =1-2",
                             "bytes= 1 - 2",
                             "bytes=1 -2",
                             "items=0-1",
                             "bytes0-1",
                             "=0-1",
                             "bytes=1-2;x",
                             "bytes=1-2 3",
                             "bytes=\x01",
                             "bytes=1-2\r\n"}) {
    EXPECT_EQ(SelectHttpRange(header, 10), kWhole) << header;
  }
}

// Seeded random headers against a straightforward model of the rules above.
TEST(SelectHttpRangeTest, RandomHeadersAgreeWithAModel) {
  std::mt19937_64 rng(99);
  int partial = 0, unsatisfiable = 0;
  for (int i = 0; i < 50000; ++i) {
    uint64_t size = rng() % 4 == 0 ? 0 : rng() % 50;
    uint64_t a = rng() % 60, b = rng() % 60;
    HttpRangeSelection got;
    HttpRangeSelection want;
    switch (rng() % 3) {
      case 0:  // a-b
        got = SelectHttpRange("bytes=" + std::to_string(a) + "-" + std::to_string(b), size);
        if (b < a) {
          want = kWhole;
        } else if (a >= size) {
          want = kUnsatisfiable;
        } else {
          want = Partial(a, std::min(b + 1, size));
        }
        break;
      case 1:  // a-
        got = SelectHttpRange("bytes=" + std::to_string(a) + "-", size);
        want = a >= size ? kUnsatisfiable : Partial(a, size);
        break;
      default:  // -b
        got = SelectHttpRange("bytes=-" + std::to_string(b), size);
        if (b == 0) {
          want = kUnsatisfiable;
        } else if (size == 0) {
          want = kWhole;
        } else {
          want = Partial(size - std::min(b, size), size);
        }
    }
    ASSERT_EQ(got, want) << "size " << size << " a " << a << " b " << b;
    if (got.kind == Kind::kPartial) {
      ++partial;
      EXPECT_LT(got.begin, got.end);
      EXPECT_LE(got.end, size);
    }
    if (got.kind == Kind::kUnsatisfiable) ++unsatisfiable;
  }
  EXPECT_GT(partial, 1000);
  EXPECT_GT(unsatisfiable, 1000);
}

TEST(ContentRangeTest, FormatsInclusiveLastBytePositions) {
  EXPECT_EQ(ContentRangeHeader(0, 500, 10000), "bytes 0-499/10000");
  EXPECT_EQ(ContentRangeHeader(9999, 10000, 10000), "bytes 9999-9999/10000");
  EXPECT_EQ(UnsatisfiedContentRangeHeader(10000), "bytes */10000");
  EXPECT_EQ(UnsatisfiedContentRangeHeader(0), "bytes */0");
}

TEST(ContentRangeTest, ParsesTheThreeForms) {
  ASSERT_OK_AND_ASSIGN(ContentRange r, ParseContentRange("bytes 42-1233/1234"));
  EXPECT_EQ(r, (ContentRange{false, 42, 1234, 1234}));
  ASSERT_OK_AND_ASSIGN(ContentRange unknown, ParseContentRange("bytes 42-1233/*"));
  EXPECT_EQ(unknown, (ContentRange{false, 42, 1234, std::nullopt}));
  ASSERT_OK_AND_ASSIGN(ContentRange unsatisfied, ParseContentRange("bytes */1234"));
  EXPECT_EQ(unsatisfied, (ContentRange{true, 0, 0, 1234}));
  ASSERT_OK_AND_ASSIGN(ContentRange cased, ParseContentRange(" Bytes 0-0/1 "));
  EXPECT_EQ(cased, (ContentRange{false, 0, 1, 1}));
  ASSERT_OK_AND_ASSIGN(ContentRange top,
                       ParseContentRange("bytes 0-18446744073709551614/18446744073709551615"));
  EXPECT_EQ(top.end, std::numeric_limits<uint64_t>::max());
}

TEST(ContentRangeTest, RoundTripsWhatTheServerWrites) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    uint64_t total = 1 + rng() % (uint64_t{1} << 40);
    uint64_t begin = rng() % total;
    uint64_t end = begin + 1 + rng() % (total - begin);
    ASSERT_OK_AND_ASSIGN(ContentRange r, ParseContentRange(ContentRangeHeader(begin, end, total)));
    ASSERT_EQ(r, (ContentRange{false, begin, end, total}));
  }
}

TEST(ContentRangeTest, RefusesMalformedValues) {
  for (const char* bad : {"",
                          "bytes",
                          "bytes ",
                          "bytes 1-2",
                          "bytes 1-2/",
                          "bytes 2-1/10",
                          "bytes 0-10/10",
                          "bytes 5-5/5",
                          "bytes */*",
                          "bytes */",
                          "bytes *",
                          "bytes -1/10",
                          "bytes 1-/10",
                          "bytes=0-1/10",
                          "items 0-1/10",
                          "bytes  0-1/10",
                          "bytes 0-1/10 x",
                          "bytes 0-1/10,2-3/10",
                          "bytes +0-1/10",
                          "bytes 0-18446744073709551616/*",
                          "bytes 0-18446744073709551615/*",
                          "bytes 0-1/18446744073709551616",
                          "bytes 0 - 1/10",
                          "bytes 0-1 /10"}) {
    Result<ContentRange> r = ParseContentRange(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace mirrord
