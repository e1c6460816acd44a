#include "lfs/batch_json.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

const std::string kOidA(64, 'a');
const std::string kOidB = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

// batch_types.h has no operator==; field-by-field comparisons that name what differs.
bool SameAction(const LfsAction& a, const LfsAction& b) {
  return a.href == b.href && a.header == b.header && a.expires_in == b.expires_in &&
         a.expires_at == b.expires_at;
}

bool SameResponse(const LfsBatchResponse& a, const LfsBatchResponse& b) {
  if (a.transfer != b.transfer || a.hash_algo != b.hash_algo ||
      a.objects.size() != b.objects.size()) {
    return false;
  }
  for (size_t i = 0; i < a.objects.size(); ++i) {
    const LfsBatchObjectResponse& x = a.objects[i];
    const LfsBatchObjectResponse& y = b.objects[i];
    if (x.oid != y.oid || x.size != y.size || x.authenticated != y.authenticated) return false;
    if (x.download.has_value() != y.download.has_value()) return false;
    if (x.download && !SameAction(*x.download, *y.download)) return false;
    if (x.error.has_value() != y.error.has_value()) return false;
    if (x.error && (x.error->code != y.error->code || x.error->message != y.error->message)) {
      return false;
    }
  }
  return true;
}

bool SameRequest(const LfsBatchRequest& a, const LfsBatchRequest& b) {
  if (a.operation != b.operation || a.transfers != b.transfers || a.ref != b.ref ||
      a.hash_algo != b.hash_algo || a.objects.size() != b.objects.size()) {
    return false;
  }
  for (size_t i = 0; i < a.objects.size(); ++i) {
    if (a.objects[i].oid != b.objects[i].oid || a.objects[i].size != b.objects[i].size) {
      return false;
    }
  }
  return true;
}

// Expects `result` to fail with `code` and a message containing `field`.
template <typename T>
void ExpectError(const Result<T>& result, StatusCode code, std::string_view field,
                 std::string_view input) {
  ASSERT_FALSE(result.ok()) << "accepted: " << input;
  EXPECT_EQ(result.status().code(), code) << result.status().ToString() << " for " << input;
  EXPECT_NE(result.status().message().find(field), std::string::npos)
      << result.status().ToString() << " does not name " << field << " for " << input;
}

// ---- requests (server side) ----

TEST(LfsBatchRequestTest, ParsesWhatGitLfsSends) {
  // The shape of `git lfs pull`'s request (git-lfs 3.x).
  std::string body = R"({"operation":"download","objects":[{"oid":")" + kOidB +
                     R"(","size":12345},{"oid":")" + kOidA +
                     R"(","size":0}],"transfers":["lfs-standalone-file","basic","ssh"],)"
                     R"("ref":{"name":"refs/heads/main"},"hash_algo":"sha256"})";
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r, ParseLfsBatchRequest(body));
  EXPECT_EQ(r.operation, "download");
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].oid, kOidB);
  EXPECT_EQ(r.objects[0].size, 12345u);
  EXPECT_EQ(r.objects[1].oid, kOidA);
  EXPECT_EQ(r.objects[1].size, 0u);
  EXPECT_EQ(r.transfers, (std::vector<std::string>{"lfs-standalone-file", "basic", "ssh"}));
  EXPECT_EQ(r.ref, "refs/heads/main");
  EXPECT_EQ(r.hash_algo, "sha256");
}

TEST(LfsBatchRequestTest, OptionalFieldsMayBeAbsentOrNull) {
  std::string body = R"({"operation":"upload","objects":[],"ref":null,"transfers":null,)"
                     R"("hash_algo":null,"unknown":{"x":[1,2]}})";
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r, ParseLfsBatchRequest(body));
  EXPECT_EQ(r.operation, "upload");
  EXPECT_TRUE(r.objects.empty());
  EXPECT_TRUE(r.transfers.empty());
  EXPECT_EQ(r.ref, "");
  EXPECT_EQ(r.hash_algo, "");
  // A ref object without a name (older clients) is no ref.
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r2,
                       ParseLfsBatchRequest(R"({"operation":"download","objects":[],"ref":{}})"));
  EXPECT_EQ(r2.ref, "");
}

TEST(LfsBatchRequestTest, RefusesMalformedRequestsNamingTheField) {
  const std::string obj = R"({"oid":")" + kOidA + R"(","size":1})";
  auto with_objects = [](std::string_view objects) {
    return R"({"operation":"download","objects":)" + std::string(objects) + "}";
  };
  struct Case {
    std::string body;
    std::string field;
  };
  std::string upper = kOidB;
  upper[3] = 'A';
  const Case cases[] = {
      {"", "JSON"},
      {"{", "JSON"},
      {"[]", "body"},
      {"\"download\"", "body"},
      {R"({"objects":[]})", "operation"},
      {R"({"operation":null,"objects":[]})", "operation"},
      {R"({"operation":"delete","objects":[]})", "operation"},
      {R"({"operation":1,"objects":[]})", "operation"},
      {R"({"operation":"download"})", "objects"},
      {R"({"operation":"download","objects":{}})", "objects"},
      {R"({"operation":"download","objects":"x"})", "objects"},
      {with_objects("[1]"), "objects[0]"},
      {with_objects("[" + obj + ",{\"size\":1}]"), "objects[1].oid"},
      {with_objects(R"([{"oid":")" + upper + R"(","size":1}])"), "objects[0].oid"},
      {with_objects(R"([{"oid":")" + kOidA.substr(1) + R"(","size":1}])"), "objects[0].oid"},
      {with_objects(R"([{"oid":1,"size":1}])"), "objects[0].oid"},
      {with_objects(R"([{"oid":")" + kOidA + R"("}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":-1}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":1.5}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":1e3}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":"12"}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":true}])"), "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":9223372036854775808}])"),
       "objects[0].size"},
      {with_objects(R"([{"oid":")" + kOidA + R"(","size":18446744073709551616}])"),
       "objects[0].size"},
      {R"({"operation":"download","objects":[],"transfers":"basic"})", "transfers"},
      {R"({"operation":"download","objects":[],"transfers":["basic",1]})", "transfers[1]"},
      {R"({"operation":"download","objects":[],"ref":"refs/heads/main"})", "ref"},
      {R"({"operation":"download","objects":[],"ref":{"name":7}})", "ref.name"},
      {R"({"operation":"download","objects":[],"hash_algo":5})", "hash_algo"},
  };
  for (const Case& c : cases) {
    ExpectError(ParseLfsBatchRequest(c.body), StatusCode::kInvalidArgument, c.field, c.body);
  }
}

TEST(LfsBatchRequestTest, LargestSizeIsInt64Max) {
  std::string body = R"({"operation":"download","objects":[{"oid":")" + kOidA +
                     R"(","size":9223372036854775807}]})";
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r, ParseLfsBatchRequest(body));
  EXPECT_EQ(r.objects[0].size, kMaxLfsObjectSize);
}

TEST(LfsBatchRequestTest, UnsupportedHashAlgorithmIsAPreconditionFailure) {
  ExpectError(ParseLfsBatchRequest(R"({"operation":"download","objects":[],"hash_algo":"sha512"})"),
              StatusCode::kFailedPrecondition, "hash_algo", "sha512");
}

TEST(LfsBatchRequestTest, CapsTheNumberOfObjects) {
  auto body_with = [](size_t n) {
    std::string body = R"({"operation":"download","objects":[)";
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) body += ',';
      body += R"({"oid":")" + kOidA + R"(","size":1})";
    }
    return body + "]}";
  };
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r,
                       ParseLfsBatchRequest(body_with(kMaxLfsBatchRequestObjects)));
  EXPECT_EQ(r.objects.size(), kMaxLfsBatchRequestObjects);
  ExpectError(ParseLfsBatchRequest(body_with(kMaxLfsBatchRequestObjects + 1)),
              StatusCode::kInvalidArgument, "too many", "10001 objects");
}

// The issue-10 batch bomb, `{"operation":"download","objects":[0,0,...]}`: the streaming
// parser must stop at the first entry, before reading (or even validating) the rest.
TEST(LfsBatchRequestTest, StopsAtTheFirstEntryThatIsNotAnObject) {
  for (std::string_view entry : {"0", "\"x\"", "[]", "null", "true", "1.5"}) {
    std::string body = R"({"operation":"download","objects":[)" + std::string(entry) +
                       ",0,0 this is not JSON at all";
    Result<LfsBatchRequest> r = ParseLfsBatchRequest(body);
    ExpectError(r, StatusCode::kInvalidArgument, "objects[0]: expected a JSON object", body);
  }
  std::string body = R"({"operation":"download","objects":[{"oid":")" + kOidA +
                     R"(","size":1},{"oid":")" + kOidA + R"(","size":-1}, garbage)";
  ExpectError(ParseLfsBatchRequest(body), StatusCode::kInvalidArgument, "objects[1].size", body);
}

TEST(LfsBatchRequestTest, StopsCountingAtTheLimitWithoutReadingTheRest) {
  std::string body = R"({"operation":"download","objects":[)";
  for (size_t i = 0; i <= kMaxLfsBatchRequestObjects; ++i) {
    body += R"({"oid":")" + kOidA + R"(","size":1},)";
  }
  body += "and then garbage that is never read";
  ExpectError(ParseLfsBatchRequest(body), StatusCode::kInvalidArgument, "too many",
              "10001 objects then garbage");
}

TEST(LfsBatchRequestTest, MembersInAnyOrderAndUnknownOnesIgnored) {
  std::string body = R"({"x":{"objects":[1,2],"operation":7},"objects":[{"size":5,"extra":[{}],"oid":")" +
                     kOidA + R"("}],"ref":{"name":"refs/heads/main","x":[1]},"operation":"download"})";
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest r, ParseLfsBatchRequest(body));
  EXPECT_EQ(r.operation, "download");
  EXPECT_EQ(r.ref, "refs/heads/main");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].oid, kOidA);
  EXPECT_EQ(r.objects[0].size, 5u);
  ExpectError(ParseLfsBatchRequest(R"({"operation":"download","objects":[]} trailing)"),
              StatusCode::kInvalidArgument, "not valid JSON", "trailing data");
  ExpectError(ParseLfsBatchRequest(R"([{"operation":"download","objects":[]}])"),
              StatusCode::kInvalidArgument, "body: expected a JSON object", "an array");
}

TEST(LfsBatchRequestTest, RefusesDeeplyNestedJsonWithoutCrashing) {
  std::string body = R"({"operation":"download","objects":[],"x":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  EXPECT_FALSE(ParseLfsBatchRequest(body).ok());
}

TEST(LfsBatchRequestTest, SerialisesTheClientRequest) {
  LfsBatchRequest r;
  r.operation = "download";
  r.transfers = {"basic"};
  r.ref = "refs/heads/main";
  r.objects = {{kOidA, 5}, {kOidB, 9223372036854775807u}};
  r.hash_algo = "sha256";
  EXPECT_EQ(SerializeLfsBatchRequest(r),
            R"({"operation":"download","transfers":["basic"],"ref":{"name":"refs/heads/main"},)"
            R"("objects":[{"oid":")" +
                kOidA + R"(","size":5},{"oid":")" + kOidB +
                R"(","size":9223372036854775807}],"hash_algo":"sha256"})");
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest back, ParseLfsBatchRequest(SerializeLfsBatchRequest(r)));
  EXPECT_TRUE(SameRequest(back, r));

  LfsBatchRequest minimal;
  minimal.operation = "download";
  EXPECT_EQ(SerializeLfsBatchRequest(minimal), R"({"operation":"download","objects":[]})");
}

// ---- responses (client side) ----

TEST(LfsBatchResponseTest, ParsesTheSpecExample) {
  std::string body = R"({
    "transfer": "basic",
    "objects": [
      {
        "oid": ")" + kOidB +
                     R"(",
        "size": 123,
        "authenticated": true,
        "actions": {
          "download": {
            "href": "https://some-download.com",
            "header": {
              "Key": "value"
            },
            "expires_at": "2016-11-10T15:29:07Z"
          }
        }
      }
    ],
    "hash_algo": "sha256"
  })";
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r, ParseLfsBatchResponse(body));
  EXPECT_EQ(r.transfer, "basic");
  EXPECT_EQ(r.hash_algo, "sha256");
  ASSERT_EQ(r.objects.size(), 1u);
  const LfsBatchObjectResponse& o = r.objects[0];
  EXPECT_EQ(o.oid, kOidB);
  EXPECT_EQ(o.size, 123u);
  EXPECT_TRUE(o.authenticated);
  EXPECT_FALSE(o.error.has_value());
  ASSERT_TRUE(o.download.has_value());
  EXPECT_EQ(o.download->href, "https://some-download.com");
  EXPECT_EQ(o.download->header, (std::map<std::string, std::string>{{"Key", "value"}}));
  EXPECT_FALSE(o.download->expires_in.has_value());
  EXPECT_EQ(o.download->expires_at, "2016-11-10T15:29:07Z");
  ASSERT_OK_AND_ASSIGN(int64_t at, ParseRfc3339(o.download->expires_at));
  EXPECT_EQ(at, 1478791747);
}

TEST(LfsBatchResponseTest, ParsesAGitHubShapedResponse) {
  // GitHub: a signed storage URL, both expires_in and expires_at, authenticated, no header,
  // no transfer member.
  std::string body =
      R"({"objects":[{"oid":")" + kOidA +
      R"(","size":2147483648,)"
      R"("actions":{"download":{"href":"https://github-cloud.githubusercontent.com/alambic/)"
      R"(media/123456/aa/aa/)" +
      kOidA +
      R"(?X-Amz-Algorithm=AWS4-HMAC-SHA256)"
      R"(&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fs3%2Faws4_request)"
      R"(&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=abc)"
      R"(&X-Amz-SignedHeaders=host&actor_id=0&key_id=0&repo_id=42&token=1",)"
      R"("expires_at":"2024-01-01T01:00:00Z","expires_in":3600}},)"
      R"("authenticated":true}]})";
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r, ParseLfsBatchResponse(body));
  EXPECT_EQ(r.transfer, "");
  ASSERT_EQ(r.objects.size(), 1u);
  const LfsBatchObjectResponse& o = r.objects[0];
  EXPECT_EQ(o.size, 2147483648u);
  EXPECT_TRUE(o.authenticated);
  ASSERT_TRUE(o.download.has_value());
  EXPECT_TRUE(o.download->href.starts_with("https://github-cloud.githubusercontent.com/"));
  EXPECT_TRUE(o.download->header.empty());
  EXPECT_EQ(o.download->expires_in, 3600);
  EXPECT_EQ(o.download->expires_at, "2024-01-01T01:00:00Z");
}

TEST(LfsBatchResponseTest, ParsesAHuggingFaceShapedResponse) {
  // Hugging Face: CDN URL, an empty header object, expires_in of a day, hash_algo.
  std::string body =
      R"({"transfer":"basic","objects":[{"oid":")" + kOidB +
      R"(","size":4976698672,)"
      R"("authenticated":true,"actions":{"download":{"href":"https://cdn-lfs-us-1.hf.co/)"
      R"(repos/96/3f/963f/)" +
      kOidB +
      R"(?response-content-disposition=attachment%3B+)"
      R"(filename*%3DUTF-8%27%27model-00001-of-00002.safetensors&Expires=1700086400)"
      R"(&Policy=eyJTdGF0ZW1lbnQiOlt7fV19&Signature=abc~def&Key-Pair-Id=K3ESJI6DHPFC7",)"
      R"("header":{},"expires_in":86400}}}],"hash_algo":"sha256"})";
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r, ParseLfsBatchResponse(body));
  EXPECT_EQ(r.transfer, "basic");
  ASSERT_EQ(r.objects.size(), 1u);
  const LfsBatchObjectResponse& o = r.objects[0];
  EXPECT_EQ(o.size, 4976698672u);
  ASSERT_TRUE(o.download.has_value());
  EXPECT_TRUE(o.download->header.empty());
  EXPECT_EQ(o.download->expires_in, 86400);
  EXPECT_EQ(o.download->expires_at, "");
}

TEST(LfsBatchResponseTest, ParsesPerObjectErrors) {
  std::string body = R"({"transfer":"basic","objects":[)"
                     R"({"oid":")" +
                     kOidA +
                     R"(","size":123,)"
                     R"("error":{"code":404,"message":"Object does not exist"}},)"
                     R"({"oid":")" +
                     kOidB +
                     R"(","size":5,)"
                     R"("error":{"code":410,"message":"Object removed"}},)"
                     R"({"oid":")" +
                     std::string(64, '0') +
                     R"(","size":1,)"
                     R"("error":{"code":422,"message":"Validation error"}},)"
                     R"({"oid":")" +
                     std::string(64, '1') +
                     R"(","size":1,"error":{}},)"
                     R"({"oid":")" +
                     std::string(64, '2') +
                     R"(","size":1,)"
                     R"("actions":{"download":{"href":"http://x/y"}}}]})";
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r, ParseLfsBatchResponse(body));
  ASSERT_EQ(r.objects.size(), 5u);
  ASSERT_TRUE(r.objects[0].error.has_value());
  EXPECT_EQ(r.objects[0].error->code, 404);
  EXPECT_EQ(r.objects[0].error->message, "Object does not exist");
  EXPECT_FALSE(r.objects[0].download.has_value());
  EXPECT_EQ(r.objects[1].error->code, 410);
  EXPECT_EQ(r.objects[2].error->code, 422);
  ASSERT_TRUE(r.objects[3].error.has_value());  // an empty error is still an error
  EXPECT_EQ(r.objects[3].error->code, 0);
  EXPECT_EQ(r.objects[3].error->message, "");
  EXPECT_FALSE(r.objects[4].error.has_value());
  ASSERT_TRUE(r.objects[4].download.has_value());
  EXPECT_EQ(r.objects[4].download->href, "http://x/y");
}

TEST(LfsBatchResponseTest, IgnoresUnknownFieldsOtherActionsAndNulls) {
  std::string body = R"({"message":"hi","objects":[{"oid":")" + kOidA +
                     R"(","size":1,"authenticated":null,"extra":[{}],)"
                     R"("actions":{"upload":{"href":"http://up"},"verify":{"href":"http://v"},)"
                     R"("download":{"href":"http://d","header":{"Authorization":"Basic eA=="},)"
                     R"("expires_in":null,"expires_at":null,"future":1}},"error":null}],)"
                     R"("transfer":null,"hash_algo":null})";
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r, ParseLfsBatchResponse(body));
  ASSERT_EQ(r.objects.size(), 1u);
  const LfsBatchObjectResponse& o = r.objects[0];
  EXPECT_FALSE(o.authenticated);
  EXPECT_FALSE(o.error.has_value());
  ASSERT_TRUE(o.download.has_value());
  EXPECT_EQ(o.download->href, "http://d");
  EXPECT_EQ(o.download->header.at("Authorization"), "Basic eA==");
  EXPECT_FALSE(o.download->expires_in.has_value());
  // Only an upload action (an upload answer) gives no download.
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse up,
                       ParseLfsBatchResponse(R"({"objects":[{"oid":")" + kOidA +
                                             R"(","size":1,"actions":{"upload":{"href":"h"}}}]})"));
  EXPECT_FALSE(up.objects[0].download.has_value());
}

TEST(LfsBatchResponseTest, NegativeExpiresInIsKept) {
  // The spec bounds expires_in to +-2^31; a negative value means already expired.
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse r,
                       ParseLfsBatchResponse(
                           R"({"objects":[{"oid":")" + kOidA +
                           R"(","size":1,"actions":{"download":{"href":"h","expires_in":-5}}}]})"));
  EXPECT_EQ(r.objects[0].download->expires_in, -5);
}

TEST(LfsBatchResponseTest, RefusesMalformedResponsesNamingTheField) {
  auto with_object = [](std::string_view members) {
    return R"({"objects":[{"oid":")" + kOidA + R"(","size":1,)" + std::string(members) + "}]}";
  };
  auto with_download = [&](std::string_view members) {
    return with_object(R"("actions":{"download":{)" + std::string(members) + "}}");
  };
  struct Case {
    std::string body;
    std::string field;
  };
  const Case cases[] = {
      {"not json", "JSON"},
      {R"({"objects":[]} trailing)", "JSON"},
      {"[]", "body"},
      {"{}", "objects"},
      {R"({"objects":{}})", "objects"},
      {R"({"objects":[null]})", "objects[0]"},
      {R"({"objects":[{"size":1}]})", "objects[0].oid"},
      {R"({"objects":[{"oid":"../../etc/passwd","size":1}]})", "objects[0].oid"},
      {R"({"objects":[{"oid":")" + kOidA + R"("}]})", "objects[0].size"},
      {R"({"objects":[{"oid":")" + kOidA + R"(","size":-2}]})", "objects[0].size"},
      {with_object(R"("authenticated":"yes")"), "objects[0].authenticated"},
      {with_object(R"("actions":[])"), "objects[0].actions"},
      {with_object(R"("actions":{"download":"http://x"})"), "objects[0].actions.download"},
      {with_download(R"("header":{})"), "objects[0].actions.download.href"},
      {with_download(R"("href":"")"), "objects[0].actions.download.href"},
      {with_download(R"("href":"http://x/a b")"), "objects[0].actions.download.href"},
      {with_download(R"("href":"http://x/\r\nHost: evil")"), "objects[0].actions.download.href"},
      {with_download(R"("href":"h","header":[])"), "objects[0].actions.download.header"},
      {with_download(R"("href":"h","header":{"X-A":1})"), "objects[0].actions.download.header.X-A"},
      {with_download(R"("href":"h","header":{"X-A":"a\r\nX-Injected: 1"})"),
       "objects[0].actions.download.header.X-A"},
      {with_download(R"("href":"h","header":{"X A":"v"})"), "objects[0].actions.download.header"},
      {with_download(R"("href":"h","header":{"":"v"})"), "objects[0].actions.download.header"},
      {with_download(R"("href":"h","expires_in":"3600")"),
       "objects[0].actions.download.expires_in"},
      {with_download(R"("href":"h","expires_in":1.5)"), "objects[0].actions.download.expires_in"},
      {with_download(R"("href":"h","expires_in":9223372036854775808)"),
       "objects[0].actions.download.expires_in"},
      {with_download(R"("href":"h","expires_at":1478791747)"),
       "objects[0].actions.download.expires_at"},
      {with_object(R"("error":"not found")"), "objects[0].error"},
      {with_object(R"("error":{"code":"404"})"), "objects[0].error.code"},
      {with_object(R"("error":{"code":4294967296})"), "objects[0].error.code"},
      {with_object(R"("error":{"code":404,"message":404})"), "objects[0].error.message"},
      {R"({"objects":[],"transfer":1})", "transfer"},
  };
  for (const Case& c : cases) {
    ExpectError(ParseLfsBatchResponse(c.body), StatusCode::kInvalidArgument, c.field, c.body);
  }
}

TEST(LfsBatchResponseTest, ErrorMessagesEscapeControlCharacters) {
  std::string body =
      R"({"objects":[{"oid":")" + kOidA +
      R"(","size":1,"actions":{"download":{"href":"h","header":{"\u001b[31m":"v"}}}}]})";
  Result<LfsBatchResponse> r = ParseLfsBatchResponse(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\x1b'), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("\\x1b"), std::string::npos) << r.status().message();
}

TEST(LfsBatchResponseTest, SerialisesTheServerAnswer) {
  LfsBatchResponse r;
  r.transfer = "basic";
  r.hash_algo = "sha256";
  LfsBatchObjectResponse ok;
  ok.oid = kOidA;
  ok.size = 10;
  ok.authenticated = true;
  ok.download = LfsAction{"http://mirror:8080/o/" + kOidA,
                          {{"Authorization", "Bearer t"}},
                          3600,
                          "2024-01-01T01:00:00Z"};
  LfsBatchObjectResponse missing;
  missing.oid = kOidB;
  missing.size = 3;
  missing.error = LfsObjectError{404, "Object does not exist"};
  r.objects = {ok, missing};
  EXPECT_EQ(SerializeLfsBatchResponse(r),
            R"({"transfer":"basic","objects":[{"oid":")" + kOidA +
                R"(","size":10,"authenticated":true,"actions":{"download":{"href":)"
                R"("http://mirror:8080/o/)" +
                kOidA +
                R"(","header":{"Authorization":"Bearer t"},"expires_in":3600,)"
                R"("expires_at":"2024-01-01T01:00:00Z"}}},{"oid":")" +
                kOidB +
                R"(","size":3,"error":{"code":404,"message":"Object does not exist"}}],)"
                R"("hash_algo":"sha256"})");
  ASSERT_OK_AND_ASSIGN(LfsBatchResponse back, ParseLfsBatchResponse(SerializeLfsBatchResponse(r)));
  EXPECT_TRUE(SameResponse(back, r));

  LfsBatchResponse empty;
  EXPECT_EQ(SerializeLfsBatchResponse(empty), R"({"objects":[]})");
}

// Seeded random responses survive serialise -> parse unchanged.
TEST(LfsBatchResponseTest, RandomResponsesRoundTrip) {
  std::mt19937_64 rng(4242);
  auto hex = [&] {
    std::string s;
    for (int i = 0; i < 64; ++i) s += "0123456789abcdef"[rng() % 16];
    return s;
  };
  auto text = [&] {
    std::string s;
    size_t n = rng() % 12;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>(0x20 + rng() % 0x5f);
    return s;
  };
  for (int iteration = 0; iteration < 300; ++iteration) {
    LfsBatchResponse r;
    if (rng() % 2) r.transfer = "basic";
    if (rng() % 2) r.hash_algo = "sha256";
    size_t n = rng() % 5;
    for (size_t i = 0; i < n; ++i) {
      LfsBatchObjectResponse o;
      o.oid = hex();
      o.size = rng() % 3 == 0 ? kMaxLfsObjectSize : rng() % 100000;
      o.authenticated = rng() % 2;
      if (rng() % 2) {
        LfsAction a;
        a.href = "https://h/" + hex();
        for (size_t h = rng() % 3; h > 0; --h) a.header["X-H" + std::to_string(h)] = text();
        if (rng() % 2) a.expires_in = static_cast<int64_t>(rng() % 200000) - 100000;
        if (rng() % 2) a.expires_at = "2024-01-01T00:00:00Z";
        o.download = a;
      }
      if (rng() % 3 == 0) o.error = LfsObjectError{static_cast<int>(rng() % 600), text()};
      r.objects.push_back(o);
    }
    std::string json = SerializeLfsBatchResponse(r);
    ASSERT_OK_AND_ASSIGN(LfsBatchResponse back, ParseLfsBatchResponse(json));
    EXPECT_TRUE(SameResponse(back, r)) << json;
  }
}

// ---- error bodies ----

TEST(LfsErrorBodyTest, RoundTripsAndOmitsEmptyFields) {
  LfsErrorBody body{"Not Found", "123", "https://lfs-server.com/docs/errors"};
  EXPECT_EQ(SerializeLfsErrorBody(body),
            R"({"message":"Not Found","request_id":"123",)"
            R"("documentation_url":"https://lfs-server.com/docs/errors"})");
  ASSERT_OK_AND_ASSIGN(LfsErrorBody back, ParseLfsErrorBody(SerializeLfsErrorBody(body)));
  EXPECT_EQ(back.message, body.message);
  EXPECT_EQ(back.request_id, body.request_id);
  EXPECT_EQ(back.documentation_url, body.documentation_url);
  EXPECT_EQ(SerializeLfsErrorBody({"Uploads are not supported", "", ""}),
            R"({"message":"Uploads are not supported"})");
}

TEST(LfsErrorBodyTest, ParsingIsTolerantButTyped) {
  ASSERT_OK_AND_ASSIGN(LfsErrorBody gh,
                       ParseLfsErrorBody(R"({"message":"API rate limit exceeded",)"
                                         R"("documentation_url":"https://docs.github.com/x",)"
                                         R"("status":"429"})"));
  EXPECT_EQ(gh.message, "API rate limit exceeded");
  EXPECT_EQ(gh.documentation_url, "https://docs.github.com/x");
  EXPECT_EQ(gh.request_id, "");
  ASSERT_OK_AND_ASSIGN(LfsErrorBody empty, ParseLfsErrorBody(R"({"error":"x"})"));
  EXPECT_EQ(empty.message, "");
  ExpectError(ParseLfsErrorBody("<html>502 Bad Gateway</html>"), StatusCode::kInvalidArgument,
              "JSON", "html");
  ExpectError(ParseLfsErrorBody(R"(["x"])"), StatusCode::kInvalidArgument, "body", "array");
  ExpectError(ParseLfsErrorBody(R"({"message":404})"), StatusCode::kInvalidArgument, "message",
              "number");
}

// ---- RFC 3339 ----

TEST(Rfc3339Test, ParsesRfcExamplesAndOffsets) {
  struct Case {
    const char* text;
    int64_t seconds;
  };
  const Case cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2016-11-10T15:29:07Z", 1478791747},
      {"1985-04-12T23:20:50.52Z", 482196050},         // RFC 3339 §5.8
      {"1996-12-19T16:39:57-08:00", 851042397},       // RFC 3339 §5.8
      {"1990-12-31T23:59:60Z", 662688000},            // leap second: next minute's :00
      {"1990-12-31T15:59:60-08:00", 662688000},       // RFC 3339 §5.8
      {"1937-01-01T12:00:27.87+00:20", -1041337173},  // RFC 3339 §5.8
      {"2024-02-29T23:59:59+05:30", 1709231399},
      {"2024-02-29t23:59:59.999999999+05:30", 1709231399},
      {"2016-11-10t15:29:07z", 1478791747},
      {"2016-11-10T15:29:07+00:00", 1478791747},
      {"2016-11-10T15:29:07-00:00", 1478791747},
      {"1969-12-31T23:59:59.9Z", -1},
      {"0001-01-01T00:00:00Z", -62135596800},
      {"9999-12-31T23:59:59Z", 253402300799},
      {"2000-02-29T00:00:00Z", 951782400},
  };
  for (const Case& c : cases) {
    Result<int64_t> r = ParseRfc3339(c.text);
    ASSERT_OK(r) << c.text;
    EXPECT_EQ(*r, c.seconds) << c.text;
  }
}

TEST(Rfc3339Test, RefusesOtherSyntaxAndOutOfRangeFields) {
  for (const char* bad : {"",
                          "2016-11-10",
                          "2016-11-10T15:29:07",
                          "2016-11-10 15:29:07Z",
                          "2016-11-10T15:29Z",
                          "16-11-10T15:29:07Z",
                          "2016-1-10T15:29:07Z",
                          "2016-11-10T15:29:07.Z",
                          "2016-11-10T15:29:07+0000",
                          "2016-11-10T15:29:07+00",
                          "2016-11-10T15:29:07ZZ",
                          "2016-11-10T15:29:07Z ",
                          " 2016-11-10T15:29:07Z",
                          "2016-13-10T15:29:07Z",
                          "2016-00-10T15:29:07Z",
                          "2016-11-00T15:29:07Z",
                          "2016-11-31T15:29:07Z",
                          "2023-02-29T00:00:00Z",
                          "1900-02-29T00:00:00Z",
                          "2016-11-10T24:00:00Z",
                          "2016-11-10T15:60:00Z",
                          "2016-11-10T15:29:61Z",
                          "2016-11-10T15:29:07+24:00",
                          "2016-11-10T15:29:07+05:60",
                          "+2016-11-10T15:29:07Z",
                          "2016-11-10T15:29:07.5.5Z",
                          "2016-11-10T15:29:07,5Z",
                          "１９７０-01-01T00:00:00Z",
                          "Thu, 10 Nov 2016 15:29:07 GMT"}) {
    Result<int64_t> r = ParseRfc3339(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace mirrord
