#include "webhook/signature.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using test::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// GitHub's documented test values ("Validating webhook deliveries").
constexpr std::string_view kGitHubSecret = "It's a Secret to Everybody";
constexpr std::string_view kGitHubPayload = "Hello, World!";
constexpr std::string_view kGitHubSignature =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
constexpr std::string_view kGitHubDigest =
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// HMAC-SHA256 written out from RFC 2104 over common/sha256.h: an implementation independent
// of the OpenSSL HMAC call under test.
std::string ReferenceHmacSha256Hex(std::string_view key, std::string_view message) {
  constexpr size_t kBlock = 64;
  std::string k(key);
  if (k.size() > kBlock) k = FromHex(Sha256Hex(k));
  k.resize(kBlock, '\0');
  std::string inner(kBlock, '\0'), outer(kBlock, '\0');
  for (size_t i = 0; i < kBlock; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  std::string inner_digest = FromHex(Sha256Hex(inner + std::string(message)));
  return Sha256Hex(outer + inner_digest);
}

TEST(GitHubSignatureTest, MatchesGitHubsDocumentedTestValues) {
  EXPECT_EQ(GitHubSignature(kGitHubSecret, kGitHubPayload), kGitHubSignature);
  EXPECT_OK(VerifyGitHubSignature(kGitHubSecret, kGitHubPayload, kGitHubSignature));
}

TEST(GitHubSignatureTest, MatchesRfc4231Vectors) {
  // Test cases 1, 2 and 6 of RFC 4231 (6 has a key longer than SHA-256's block).
  EXPECT_EQ(GitHubSignature(std::string(20, '\x0b'), "Hi There"),
            "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(GitHubSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(GitHubSignature(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First"),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(GitHubSignatureTest, AgreesWithAnIndependentHmacOnRandomKeysAndBodies) {
  std::mt19937_64 rng(4242);
  for (int i = 0; i < 200; ++i) {
    std::string key(1 + rng() % 150, '\0');  // both sides of the 64-byte block size
    for (char& c : key) c = static_cast<char>(rng());
    std::string body(rng() % 300, '\0');
    for (char& c : body) c = static_cast<char>(rng());
    std::string header = GitHubSignature(key, body);
    ASSERT_EQ(header, "sha256=" + ReferenceHmacSha256Hex(key, body)) << "case " << i;
    ASSERT_OK(VerifyGitHubSignature(key, body, header));
  }
}

TEST(GitHubSignatureTest, SignsEmptyAndBinaryBodies) {
  std::string binary("\0\xff\n\0", 4);
  for (std::string_view body : {std::string_view(), std::string_view(binary)}) {
    std::string header = GitHubSignature("s3cret", body);
    EXPECT_EQ(header, "sha256=" + ReferenceHmacSha256Hex("s3cret", body));
    EXPECT_OK(VerifyGitHubSignature("s3cret", body, header));
  }
  EXPECT_NE(GitHubSignature("s3cret", ""), GitHubSignature("s3cret", std::string_view("\0", 1)));
}

TEST(GitHubSignatureTest, AcceptsUpperAndMixedCaseHexAndSurroundingBlanks) {
  std::string upper = "sha256=" + Upper(std::string(kGitHubDigest));
  EXPECT_OK(VerifyGitHubSignature(kGitHubSecret, kGitHubPayload, upper));
  std::string mixed(kGitHubSignature);
  for (size_t i = 7; i < mixed.size(); i += 3) {
    if (mixed[i] >= 'a' && mixed[i] <= 'f') mixed[i] = static_cast<char>(mixed[i] - 32);
  }
  EXPECT_OK(VerifyGitHubSignature(kGitHubSecret, kGitHubPayload, mixed));
  EXPECT_OK(VerifyGitHubSignature(kGitHubSecret, kGitHubPayload,
                                  " \t" + std::string(kGitHubSignature) + " "));
}

TEST(GitHubSignatureTest, RejectsATamperedBody) {
  for (std::string_view body : {"Hello, World?", "Hello, World! ", "hello, World!", "", "Hello"}) {
    EXPECT_THAT(VerifyGitHubSignature(kGitHubSecret, body, kGitHubSignature),
                StatusIs(StatusCode::kPermissionDenied))
        << body;
  }
}

TEST(GitHubSignatureTest, RejectsEverySingleDigitChangeOfTheSignature) {
  for (size_t i = 7; i < kGitHubSignature.size(); ++i) {
    std::string tampered(kGitHubSignature);
    tampered[i] = tampered[i] == '0' ? '1' : '0';
    Status s = VerifyGitHubSignature(kGitHubSecret, kGitHubPayload, tampered);
    EXPECT_THAT(s, StatusIs(StatusCode::kPermissionDenied)) << "digit " << i;
    EXPECT_THAT(s.message(), HasSubstr("does not match"));
  }
}

TEST(GitHubSignatureTest, RejectsAnotherSecret) {
  EXPECT_THAT(
      VerifyGitHubSignature("It's a Secret to Everybody!", kGitHubPayload, kGitHubSignature),
      StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(VerifyGitHubSignature("it's a secret to everybody", kGitHubPayload, kGitHubSignature),
              StatusIs(StatusCode::kPermissionDenied));
}

TEST(GitHubSignatureTest, RejectsMalformedHeadersWithAReason) {
  struct Case {
    std::string header;
    std::string reason;
  };
  std::string digest(kGitHubDigest);
  std::vector<Case> cases = {
      {"", "missing"},
      {"  ", "missing"},
      {digest, "expected \"sha256=<64 hex digits>\""},
      {"SHA256=" + digest, "expected \"sha256=<64 hex digits>\""},
      {"sha512=" + digest, "got scheme \"sha512=\""},
      {"sha256:" + digest, "expected \"sha256=<64 hex digits>\""},
      // The old X-Hub-Signature header's format.
      {"sha1=0f4bf1f9b4a2b4e6f2d6aac5fb8fd2e6c4b6ee7a", "SHA-1"},
      {"sha256=", "got 0 characters"},
      {"sha256=" + digest.substr(1), "got 63 characters"},
      {"sha256=" + digest + "0", "got 65 characters"},
      {"sha256=" + digest + digest, "got 128 characters"},
      {"sha256=" + std::string(63, '0') + "g", "not hexadecimal"},
      {"sha256=" + std::string(62, '0') + "0x", "not hexadecimal"},
      {"sha256=" + std::string(63, '0') + " ", "got 63 characters"},  // trailing blank trimmed
      {"sha256=" + std::string(31, '0') + " " + std::string(32, '0'), "not hexadecimal"},
      {"sha256=" + std::string(63, '0') + std::string(1, '\0'), "not hexadecimal"},
  };
  for (const Case& c : cases) {
    Status s = VerifyGitHubSignature(kGitHubSecret, kGitHubPayload, c.header);
    EXPECT_THAT(s, StatusIs(StatusCode::kPermissionDenied)) << c.header;
    EXPECT_THAT(s.message(), HasSubstr(c.reason)) << c.header;
    EXPECT_THAT(s.message(), HasSubstr("X-Hub-Signature-256")) << c.header;
  }
}

TEST(GitHubSignatureTest, MessagesNeverContainTheSecretOrTheExpectedSignature) {
  const std::string secret = "correct-horse-battery-staple";
  const std::string body = R"({"zen":"Keep it logically awesome."})";
  const std::string good = GitHubSignature(secret, body);
  std::string tampered = good;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  for (const std::string& header : {tampered, std::string(""), "sha1=" + good.substr(7, 40),
                                    good.substr(0, 40), "sha256=" + secret, secret, "x" + good}) {
    Status s = VerifyGitHubSignature(secret, body, header);
    ASSERT_FALSE(s.ok()) << header;
    EXPECT_THAT(s.message(), Not(HasSubstr(secret.substr(0, 6)))) << header;
    EXPECT_THAT(s.message(), Not(HasSubstr(good.substr(7, 16)))) << header;
  }
}

TEST(GitHubSignatureTest, RefusesAnEmptySecretAsAConfigurationError) {
  // Even a signature made with the empty key is refused: an empty secret is a server
  // misconfiguration (500), not a bad delivery (401).
  std::string signed_with_empty_key = GitHubSignature("", kGitHubPayload);
  Status s = VerifyGitHubSignature("", kGitHubPayload, signed_with_empty_key);
  EXPECT_THAT(s, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.message(), HasSubstr("secret_file"));
  EXPECT_THAT(VerifyGitHubSignature("", kGitHubPayload, ""),
              StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace mirrord
