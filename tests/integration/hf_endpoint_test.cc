// The Hugging Face–compatible endpoint (HF_ENDPOINT=http://mirror:8080) at the HTTP level:
// the contract huggingface_hub's hf_hub_download / snapshot_download and @huggingface/hub
// rely on. One upstream repo mirrored from the `hf` upstream (answering under its Hub id
// "org/tiny", not its mirror name), with LFS and plain files, a tag, a branch with '/' and a
// refs/pr ref; the real mirrord, git, git-lfs and test upstream.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/seeded_bytes.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr std::string_view kHubId = "org/tiny";
constexpr std::string_view kMirrorName = "hf/org/tiny";
constexpr std::string_view kManyId = "org/many";
constexpr int kManyFiles = 1005;
constexpr std::string_view kDatasetId = "org/data";
constexpr std::string_view kDatasetMirror = "hfdata/org/data";
const std::string kTrainCsv = "a,b\n1,2\n";
constexpr uint64_t kWeightsSize = 300 << 10;
constexpr uint64_t kExtraSize = 100 << 10;
constexpr std::string_view kHfHubVersion = "2.17.5";  // tests/integration/hf_client/package.json
const std::string kConfig = "{\"model_type\": \"tiny\"}\n";
// A plain git file larger than any in-memory limit: streamed from git (hf_git_blob_stream.h).
constexpr std::string_view kBigId = "org/big";
constexpr size_t kBigSize = (17u << 20) + 5;
const std::string kNested = "nested file\n";
// A repo whose main branch a test moves (HfEndpoint.NewCommitOnABranchIsAnsweredAtOnce).
constexpr std::string_view kMovingId = "org/moving";
const std::string kMovingV1 = "{\"version\": 1}\n";
const std::string kMovingV2 = "{\"version\": 2, \"longer\": true}\n";

std::string PointerText(const std::string& oid, uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize " +
         std::to_string(size) + "\n";
}

struct Fixture {
  std::optional<TempDir> dir;
  std::unique_ptr<TestUpstream> upstream;
  std::unique_ptr<TestLfsEndpoint> lfs;
  std::unique_ptr<MirrordProcess> mirrord;
  std::string weights_oid;
  std::string extra_oid;
  std::string first_commit;   // has config.json only
  std::string second_commit;  // main
  std::string pr_commit;      // refs/pr/1: main + pr.txt
  std::string dataset_commit;
  std::string big;  // org/big's big.bin
  std::string big_commit;
  std::optional<WorkRepo> moving;  // org/moving's work tree, pushed to moving_bare
  std::filesystem::path moving_bare;
  std::string moving_first;
};

Fixture* fx = nullptr;

class HfEndpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MirrordProcess::BinariesBuilt()) return;
    fx = new Fixture;
    Status s = Build();
    if (!s.ok()) {
      std::string logs = fx->mirrord ? fx->mirrord->Logs() : "";
      ADD_FAILURE() << s.ToString() << "\n" << logs;
      delete fx;
      fx = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete fx;
    fx = nullptr;
  }
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_NE(fx, nullptr) << "fixture setup failed";
  }

  static Status Build() {
    RETURN_IF_ERROR(InstallGitLfsFilters());
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("hf-endpoint-"));
    fx->dir.emplace(std::move(dir));
    const std::filesystem::path root = fx->dir->path();
    ASSIGN_OR_RETURN(fx->upstream, TestUpstream::Start(root / "upstream"));
    ASSIGN_OR_RETURN(fx->lfs, TestLfsEndpoint::Attach(*fx->upstream, root / "lfs-objects"));
    ASSIGN_OR_RETURN(WorkRepo work, WorkRepo::Init(root / "work"));
    RETURN_IF_ERROR(
        work.WriteFile(".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"));
    RETURN_IF_ERROR(work.WriteFile("config.json", kConfig));
    ASSIGN_OR_RETURN(fx->first_commit, work.Commit("config"));
    ASSIGN_OR_RETURN(fx->weights_oid, fx->lfs->PutGeneratedObject(kWeightsSize, 7));
    RETURN_IF_ERROR(
        work.WriteFile("model.safetensors", PointerText(fx->weights_oid, kWeightsSize)));
    RETURN_IF_ERROR(work.WriteFile("sub/dir/nested.txt", kNested));
    // Excluded from syncs by lfs_exclude: fetched on its first request.
    ASSIGN_OR_RETURN(fx->extra_oid, fx->lfs->PutGeneratedObject(kExtraSize, 8));
    RETURN_IF_ERROR(work.WriteFile("extra.bin", PointerText(fx->extra_oid, kExtraSize)));
    ASSIGN_OR_RETURN(fx->second_commit, work.Commit("weights"));
    RETURN_IF_ERROR(work.CreateTag("v1.0", fx->first_commit));
    RETURN_IF_ERROR(work.CreateBranch("feature/x", fx->first_commit));
    RETURN_IF_ERROR(work.WriteFile("pr.txt", "from a pull request\n"));
    ASSIGN_OR_RETURN(fx->pr_commit, work.Commit("pr"));
    RETURN_IF_ERROR(work.Run({"update-ref", "refs/pr/1", fx->pr_commit}).status());
    RETURN_IF_ERROR(work.ResetHard(fx->second_commit));
    ASSIGN_OR_RETURN(std::filesystem::path upstream_repo, fx->upstream->CreateBareRepo(kHubId));
    GitOptions o;
    o.env["GIT_LFS_SKIP_PUSH"] = "1";
    RETURN_IF_ERROR(work.PushMirror(upstream_repo.string(), o));

    // More files than one tree page (kHfTreePageSize = 1000), mirrored under its Hub id as
    // its name.
    ASSIGN_OR_RETURN(WorkRepo many, WorkRepo::Init(root / "work-many"));
    for (int i = 0; i < kManyFiles; ++i) {
      RETURN_IF_ERROR(many.WriteFile("f/" + std::to_string(i) + ".txt", std::to_string(i) + "\n"));
    }
    RETURN_IF_ERROR(many.Commit("many").status());
    ASSIGN_OR_RETURN(std::filesystem::path many_bare, fx->upstream->CreateBareRepo(kManyId));
    RETURN_IF_ERROR(many.PushMirror(many_bare.string()));

    // A dataset: the Hub's git path is datasets/ORG/NAME; mirrored under another name.
    ASSIGN_OR_RETURN(WorkRepo data, WorkRepo::Init(root / "work-data"));
    RETURN_IF_ERROR(data.WriteFile("train.csv", kTrainCsv));
    ASSIGN_OR_RETURN(fx->dataset_commit, data.Commit("data"));
    ASSIGN_OR_RETURN(std::filesystem::path data_bare,
                     fx->upstream->CreateBareRepo("datasets/" + std::string(kDatasetId)));
    RETURN_IF_ERROR(data.PushMirror(data_bare.string()));

    // A plain (non-LFS) file over 16 MiB, mirrored under its Hub id.
    fx->big = SeededBytes(kBigSize, 11);
    ASSIGN_OR_RETURN(WorkRepo big, WorkRepo::Init(root / "work-big"));
    RETURN_IF_ERROR(big.WriteFile("big.bin", fx->big));
    ASSIGN_OR_RETURN(fx->big_commit, big.Commit("big"));
    ASSIGN_OR_RETURN(std::filesystem::path big_bare, fx->upstream->CreateBareRepo(kBigId));
    RETURN_IF_ERROR(big.PushMirror(big_bare.string()));

    ASSIGN_OR_RETURN(WorkRepo moving, WorkRepo::Init(root / "work-moving"));
    RETURN_IF_ERROR(moving.WriteFile("config.json", kMovingV1));
    ASSIGN_OR_RETURN(fx->moving_first, moving.Commit("v1"));
    ASSIGN_OR_RETURN(fx->moving_bare, fx->upstream->CreateBareRepo(kMovingId));
    RETURN_IF_ERROR(moving.PushMirror(fx->moving_bare.string()));
    fx->moving.emplace(std::move(moving));

    MirrordOptions m;
    m.extra_toml = "[sync]\nmaintenance = false\n\n[upstreams.hf]\nurl = \"" +
                   fx->upstream->BaseUrl() + "/{repo}.git\"\n\n[[repos]]\nname = \"" +
                   std::string(kMirrorName) + "\"\nupstream = \"hf\"\npath = \"" +
                   std::string(kHubId) +
                   "\"\npoll_interval = \"1d\"\nrefspecs = [\"+refs/heads/*:refs/heads/*\", "
                   "\"+refs/tags/*:refs/tags/*\", \"+refs/pr/*:refs/pr/*\"]\nlfs_exclude = "
                   "[\"*.bin\"]\n\n[[repos]]\nname = \"" +
                   std::string(kManyId) +
                   "\"\nupstream = \"hf\"\npoll_interval = \"1d\"\n\n[[repos]]\nname = \"" +
                   std::string(kDatasetMirror) + "\"\nupstream = \"hf\"\npath = \"datasets/" +
                   std::string(kDatasetId) + "\"\npoll_interval = \"1d\"\n\n[[repos]]\nname = \"" +
                   std::string(kBigId) +
                   "\"\nupstream = \"hf\"\npoll_interval = \"1d\"\n\n[[repos]]\nname = \"" +
                   std::string(kMovingId) + "\"\nupstream = \"hf\"\npoll_interval = \"1d\"\n";
    ASSIGN_OR_RETURN(fx->mirrord, MirrordProcess::Start(m));
    for (std::string_view name : {kMirrorName, kManyId, kDatasetMirror, kBigId, kMovingId}) {
      ASSIGN_OR_RETURN(ProcessResult r, fx->mirrord->Mirrorctl({"sync", std::string(name)}));
      if (!r.ok()) return Internal("mirrorctl sync " + std::string(name) + ": " + r.Describe());
    }
    if (fx->lfs->ObjectGets(fx->extra_oid) != 0) return Internal("the sync fetched extra.bin");
    return Status::Ok();
  }

  static Result<HttpReply> Get(std::string_view path_and_query, std::string method = "GET",
                               std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpCall call;
    call.method = std::move(method);
    call.headers = std::move(headers);
    return HttpFetch(fx->mirrord->BaseUrl() + std::string(path_and_query), call);
  }
  static std::string Resolve(std::string_view rev, std::string_view file) {
    return "/" + std::string(kHubId) + "/resolve/" + std::string(rev) + "/" + std::string(file);
  }
  static std::string Weights() {
    Result<std::string> w = ReadFileToString(fx->lfs->ObjectPath(fx->weights_oid));
    return w.ok() ? *w : "";
  }
  static std::string BlobId(std::string_view content) {
    // git's blob id: SHA-1 of "blob <size>\0<content>", computed by git itself.
    GitOptions o;
    o.stdin_data = std::string(content);
    Result<std::string> out = Git({"hash-object", "--stdin"}, {}, o);
    return out.ok() ? std::string(Trim(*out)) : "";
  }
  static std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  }
};

TEST_F(HfEndpoint, LfsFileHeadCarriesTheHubHeaders) {
  ASSERT_OK_AND_ASSIGN(HttpReply r, Get(Resolve("main", "model.safetensors"), "HEAD"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Repo-Commit"), fx->second_commit);
  EXPECT_EQ(r.Header("ETag"), "\"" + fx->weights_oid + "\"");
  EXPECT_EQ(r.Header("X-Linked-Etag"), "\"" + fx->weights_oid + "\"");
  EXPECT_EQ(r.Header("X-Linked-Size"), std::to_string(kWeightsSize));
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(kWeightsSize));
  EXPECT_EQ(r.Header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.Header("Content-Encoding"), std::nullopt);
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");  // a branch moves
  EXPECT_TRUE(r.body.empty());
  for (const auto& [name, value] : r.headers) {
    EXPECT_FALSE(name.starts_with("X-Xet") || name.starts_with("x-xet")) << name;
  }
}

TEST_F(HfEndpoint, LfsFileGetIsByteIdenticalAndPinnedUrlsAreImmutable) {
  ASSERT_OK_AND_ASSIGN(HttpReply r, Get(Resolve(fx->second_commit, "model.safetensors")));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == Weights());
  EXPECT_EQ(Sha256Hex(r.body), fx->weights_oid);
  EXPECT_EQ(r.Header("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(r.Header("X-Repo-Commit"), fx->second_commit);
}

TEST_F(HfEndpoint, RangeZeroZeroAndResume) {
  // @huggingface/hub's fileDownloadInfo and WebBlob probe with bytes=0-0.
  ASSERT_OK_AND_ASSIGN(HttpReply probe,
                       Get(Resolve("main", "model.safetensors"), "GET", {{"Range", "bytes=0-0"}}));
  EXPECT_EQ(probe.status, 206);
  EXPECT_EQ(probe.Header("Content-Range"), "bytes 0-0/" + std::to_string(kWeightsSize));
  EXPECT_EQ(probe.body, Weights().substr(0, 1));
  EXPECT_EQ(probe.Header("ETag"), "\"" + fx->weights_oid + "\"");
  // huggingface_hub resumes a .incomplete file with bytes=N-.
  ASSERT_OK_AND_ASSIGN(HttpReply resume, Get(Resolve("main", "model.safetensors"), "GET",
                                             {{"Range", "bytes=1000-"}}));
  EXPECT_EQ(resume.status, 206);
  EXPECT_EQ(resume.Header("Content-Range"),
            "bytes 1000-" + std::to_string(kWeightsSize - 1) + "/" + std::to_string(kWeightsSize));
  EXPECT_TRUE(resume.body == Weights().substr(1000));
  ASSERT_OK_AND_ASSIGN(HttpReply past,
                       Get(Resolve("main", "model.safetensors"), "GET",
                           {{"Range", "bytes=" + std::to_string(kWeightsSize) + "-"}}));
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(past.Header("Content-Range"), "bytes */" + std::to_string(kWeightsSize));
  // Plain git files take ranges too.
  ASSERT_OK_AND_ASSIGN(HttpReply small,
                       Get(Resolve("main", "config.json"), "GET", {{"Range", "bytes=0-0"}}));
  EXPECT_EQ(small.status, 206);
  EXPECT_EQ(small.Header("Content-Range"), "bytes 0-0/" + std::to_string(kConfig.size()));
  EXPECT_EQ(small.body, kConfig.substr(0, 1));
}

TEST_F(HfEndpoint, ObjectsTheSyncSkippedAreFetchedOnFirstRequestThenKept) {
  const int gets_before = fx->lfs->ObjectGets(fx->extra_oid);
  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(Resolve("main", "extra.bin"), "HEAD"));
  EXPECT_EQ(fx->lfs->ObjectGets(fx->extra_oid), gets_before);  // a HEAD never downloads
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("X-Linked-Size"), std::to_string(kExtraSize));
  EXPECT_EQ(head.Header("ETag"), "\"" + fx->extra_oid + "\"");
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(kExtraSize));
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get(Resolve("main", "extra.bin")));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.size(), kExtraSize);
    EXPECT_EQ(Sha256Hex(r.body), fx->extra_oid);
  }
  EXPECT_EQ(fx->lfs->ObjectGets(fx->extra_oid), 1);
}

TEST_F(HfEndpoint, GitFileEtagIsTheBlobId) {
  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(Resolve("main", "config.json"), "HEAD"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("ETag"), "\"" + BlobId(kConfig) + "\"");
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(kConfig.size()));
  EXPECT_EQ(head.Header("X-Linked-Etag"), std::nullopt);
  EXPECT_EQ(head.Header("X-Repo-Commit"), fx->second_commit);
  ASSERT_OK_AND_ASSIGN(HttpReply get, Get(Resolve("main", "sub/dir/nested.txt")));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, kNested);
  EXPECT_EQ(get.Header("ETag"), "\"" + BlobId(kNested) + "\"");
}

TEST_F(HfEndpoint, RevisionForms) {
  struct Case {
    std::string rev;
    std::string file;
    std::string commit;
  };
  const std::vector<Case> cases = {
      {"main", "config.json", fx->second_commit},
      {"v1.0", "config.json", fx->first_commit},
      {fx->first_commit, "config.json", fx->first_commit},
      {"feature%2Fx", "config.json", fx->first_commit},
      {"refs%2Fheads%2Ffeature%2Fx", "config.json", fx->first_commit},
      {"refs%2Fpr%2F1", "pr.txt", fx->pr_commit},
      {"refs/pr/1", "pr.txt", fx->pr_commit},
  };
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get(Resolve(c.rev, c.file), "HEAD"));
    EXPECT_EQ(r.status, 200) << c.rev;
    EXPECT_EQ(r.Header("X-Repo-Commit"), c.commit) << c.rev;
  }
  // The file is not in the older revision.
  ASSERT_OK_AND_ASSIGN(HttpReply old, Get(Resolve("v1.0", "model.safetensors"), "HEAD"));
  EXPECT_EQ(old.status, 404);
  EXPECT_EQ(old.Header("X-Error-Code"), "EntryNotFound");
  EXPECT_EQ(old.Header("X-Repo-Commit"), fx->first_commit);
}

TEST_F(HfEndpoint, NotFoundMapping) {
  ASSERT_OK_AND_ASSIGN(HttpReply repo, Get("/org/nope/resolve/main/config.json"));
  EXPECT_EQ(repo.status, 404);
  EXPECT_EQ(repo.Header("X-Error-Code"), "RepoNotFound");
  // The mirror name is not the Hub id of an hf repo.
  ASSERT_OK_AND_ASSIGN(HttpReply by_name,
                       Get("/" + std::string(kMirrorName) + "/resolve/main/config.json"));
  EXPECT_EQ(by_name.Header("X-Error-Code"), "RepoNotFound");
  for (const std::string& rev : std::vector<std::string>{
           "nope", "0123456789abcdef0123456789abcdef01234567", fx->second_commit.substr(0, 12)}) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get(Resolve(rev, "config.json")));
    EXPECT_EQ(r.status, 404) << rev;
    EXPECT_EQ(r.Header("X-Error-Code"), "RevisionNotFound") << rev;
  }
  ASSERT_OK_AND_ASSIGN(HttpReply entry, Get(Resolve("main", "missing.bin")));
  EXPECT_EQ(entry.status, 404);
  EXPECT_EQ(entry.Header("X-Error-Code"), "EntryNotFound");
  EXPECT_EQ(entry.Header("X-Repo-Commit"), fx->second_commit);
  ASSERT_OK_AND_ASSIGN(HttpReply dir, Get(Resolve("main", "sub")));
  EXPECT_EQ(dir.Header("X-Error-Code"), "EntryNotFound");
}

TEST_F(HfEndpoint, TraversalNeverLeavesTheRepository) {
  for (std::string path :
       {"../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "sub/../config.json",
        "%2Fetc%2Fpasswd", "config.json%00.txt", "sub%5C..%5Cconfig.json", "./config.json"}) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get("/" + std::string(kHubId) + "/resolve/main/" + path));
    EXPECT_TRUE(r.status == 400 || r.status == 404) << path << " -> " << r.status;
    EXPECT_THAT(r.body, ::testing::Not(HasSubstr("root:")));
    EXPECT_NE(r.body, kConfig) << path;
  }
}

TEST_F(HfEndpoint, ModelInfoAndRevision) {
  ASSERT_OK_AND_ASSIGN(HttpReply r, Get("/api/models/org/tiny?blobs=true"));
  ASSERT_EQ(r.status, 200) << r.body;
  json::object info = json::parse(r.body).as_object();
  EXPECT_EQ(info["id"].as_string(), kHubId);
  EXPECT_EQ(info["sha"].as_string(), fx->second_commit);
  EXPECT_TRUE(info.contains("lastModified"));
  std::map<std::string, json::object> siblings;
  for (const json::value& s : info["siblings"].as_array()) {
    siblings[std::string(s.as_object().at("rfilename").as_string())] = s.as_object();
  }
  ASSERT_EQ(siblings.size(), 5u);  // .gitattributes, config.json, extra.bin, model, nested
  EXPECT_TRUE(siblings.contains("sub/dir/nested.txt"));
  const json::object& w = siblings["model.safetensors"];
  EXPECT_EQ(w.at("size").as_int64(), static_cast<int64_t>(kWeightsSize));
  EXPECT_EQ(w.at("lfs").as_object().at("sha256").as_string(), fx->weights_oid);
  EXPECT_EQ(r.body.find("xet"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(HttpReply old, Get("/api/models/org/tiny/revision/v1.0"));
  ASSERT_EQ(old.status, 200);
  EXPECT_EQ(json::parse(old.body).as_object()["sha"].as_string(), fx->first_commit);
  ASSERT_OK_AND_ASSIGN(HttpReply bad, Get("/api/models/org/tiny/revision/nope"));
  EXPECT_EQ(bad.Header("X-Error-Code"), "RevisionNotFound");
  ASSERT_OK_AND_ASSIGN(HttpReply none, Get("/api/models/org/none"));
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.Header("X-Error-Code"), "RepoNotFound");
}

TEST_F(HfEndpoint, TreeIsPaginatedWithLinkNext) {
  std::vector<std::string> paths;
  std::string url =
      fx->mirrord->BaseUrl() + "/api/models/org/tiny/tree/main?recursive=true&limit=2";
  int pages = 0;
  while (!url.empty() && pages < 10) {
    ++pages;
    ASSERT_OK_AND_ASSIGN(HttpReply r, HttpFetch(url));
    ASSERT_EQ(r.status, 200) << r.body;
    json::array page = json::parse(r.body).as_array();
    EXPECT_LE(page.size(), 2u);
    for (const json::value& e : page) {
      const json::object& o = e.as_object();
      paths.emplace_back(o.at("path").as_string());
      if (o.at("path").as_string() == "model.safetensors") {
        EXPECT_EQ(o.at("type").as_string(), "file");
        EXPECT_EQ(o.at("size").as_int64(), static_cast<int64_t>(kWeightsSize));
        EXPECT_EQ(o.at("lfs").as_object().at("oid").as_string(), fx->weights_oid);
        EXPECT_EQ(o.at("lfs").as_object().at("pointerSize").as_int64(),
                  static_cast<int64_t>(PointerText(fx->weights_oid, kWeightsSize).size()));
      }
      if (o.at("path").as_string() == "config.json") {
        EXPECT_EQ(o.at("oid").as_string(), BlobId(kConfig));
      }
    }
    url.clear();
    if (auto link = r.Header("Link")) {
      ASSERT_THAT(*link, HasSubstr("rel=\"next\""));
      url = link->substr(1, link->find('>') - 1);
    }
  }
  EXPECT_EQ(pages, 4);
  EXPECT_THAT(paths,
              ::testing::ElementsAre(".gitattributes", "config.json", "extra.bin",
                                     "model.safetensors", "sub", "sub/dir", "sub/dir/nested.txt"));
  ASSERT_OK_AND_ASSIGN(HttpReply sub, Get("/api/models/org/tiny/tree/main/sub/dir"));
  ASSERT_EQ(sub.status, 200);
  EXPECT_EQ(json::parse(sub.body).as_array().size(), 1u);
  ASSERT_OK_AND_ASSIGN(HttpReply missing, Get("/api/models/org/tiny/tree/main/nope"));
  EXPECT_EQ(missing.Header("X-Error-Code"), "EntryNotFound");
}

// Answers are kept in memory (hf_answer_cache.h): after a sync publishes a new commit on a
// branch, the very next request answers the new commit, while URLs pinned to the old
// commit keep answering its files.
TEST_F(HfEndpoint, NewCommitOnABranchIsAnsweredAtOnce) {
  const std::string resolve = "/" + std::string(kMovingId) + "/resolve/main/config.json";
  const std::string tree = "/api/models/" + std::string(kMovingId) + "/tree/main";
  const std::string info = "/api/models/" + std::string(kMovingId);
  auto tree_paths = [](const std::string& body) {
    std::vector<std::string> paths;
    const json::value listing = json::parse(body);
    for (const json::value& e : listing.as_array()) {
      paths.emplace_back(e.as_object().at("path").as_string());
    }
    return paths;
  };
  // Each answer asked for more than once: the later ones come from memory.
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(HttpReply head, Get(resolve, "HEAD"));
    EXPECT_EQ(head.Header("X-Repo-Commit"), fx->moving_first);
    EXPECT_EQ(head.Header("ETag"), "\"" + BlobId(kMovingV1) + "\"");
    ASSERT_OK_AND_ASSIGN(HttpReply get, Get(resolve));
    EXPECT_EQ(get.body, kMovingV1);
    ASSERT_OK_AND_ASSIGN(HttpReply t, Get(tree));
    ASSERT_EQ(t.status, 200) << t.body;
    EXPECT_THAT(tree_paths(t.body), ::testing::ElementsAre("config.json"));
    ASSERT_OK_AND_ASSIGN(HttpReply m, Get(info));
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(json::parse(m.body).as_object().at("sha").as_string(), fx->moving_first);
  }

  ASSERT_OK(fx->moving->WriteFile("config.json", kMovingV2));
  ASSERT_OK(fx->moving->WriteFile("added.txt", "added\n"));
  ASSERT_OK_AND_ASSIGN(std::string second, fx->moving->Commit("v2"));
  ASSERT_OK(fx->moving->PushMirror(fx->moving_bare.string()));
  ASSERT_OK_AND_ASSIGN(ProcessResult synced,
                       fx->mirrord->Mirrorctl({"sync", std::string(kMovingId)}));
  ASSERT_TRUE(synced.ok()) << synced.Describe();

  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(resolve, "HEAD"));
  EXPECT_EQ(head.Header("X-Repo-Commit"), second);
  EXPECT_EQ(head.Header("ETag"), "\"" + BlobId(kMovingV2) + "\"");
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(kMovingV2.size()));
  ASSERT_OK_AND_ASSIGN(HttpReply get, Get(resolve));
  EXPECT_EQ(get.body, kMovingV2);
  EXPECT_EQ(get.Header("X-Repo-Commit"), second);
  ASSERT_OK_AND_ASSIGN(HttpReply t, Get(tree));
  EXPECT_THAT(tree_paths(t.body), ::testing::ElementsAre("added.txt", "config.json"));
  ASSERT_OK_AND_ASSIGN(HttpReply m, Get(info));
  EXPECT_EQ(json::parse(m.body).as_object().at("sha").as_string(), second);

  // The old commit, pinned: its answers never change.
  const std::string pinned =
      "/" + std::string(kMovingId) + "/resolve/" + fx->moving_first + "/config.json";
  ASSERT_OK_AND_ASSIGN(HttpReply old, Get(pinned));
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.body, kMovingV1);
  EXPECT_EQ(old.Header("X-Repo-Commit"), fx->moving_first);
  EXPECT_EQ(old.Header("Cache-Control"), "public, max-age=31536000, immutable");
}

// Anonymous clients asking for paths and revisions that do not exist get the Hub's answers
// every time (nothing about a miss is remembered), and do not disturb the answers that are.
TEST_F(HfEndpoint, RandomPathsAndRevisionsAreNeverRemembered) {
  for (int i = 0; i < 200; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_OK_AND_ASSIGN(HttpReply path, Get(Resolve("main", "nope/" + n + ".bin"), "HEAD"));
    EXPECT_EQ(path.status, 404);
    EXPECT_EQ(path.Header("X-Error-Code"), "EntryNotFound");
    ASSERT_OK_AND_ASSIGN(HttpReply rev, Get(Resolve("rev-" + n, "config.json"), "HEAD"));
    EXPECT_EQ(rev.status, 404);
    EXPECT_EQ(rev.Header("X-Error-Code"), "RevisionNotFound");
    ASSERT_OK_AND_ASSIGN(HttpReply page,
                         Get("/api/models/org/tiny/tree/main?cursor=" + std::to_string(1000 + i)));
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.body, "[]");
    ASSERT_OK_AND_ASSIGN(HttpReply good, Get(Resolve("main", "config.json"), "HEAD"));
    EXPECT_EQ(good.status, 200);
    EXPECT_EQ(good.Header("X-Repo-Commit"), fx->second_commit);
  }
}

TEST_F(HfEndpoint, PathsInfoAndRefs) {
  HttpCall call;
  call.method = "POST";
  call.headers = {{"Content-Type", "application/json"}};
  call.body = R"({"paths": ["model.safetensors", "missing", "sub", "../x"], "expand": true})";
  ASSERT_OK_AND_ASSIGN(
      HttpReply r,
      HttpFetch(fx->mirrord->BaseUrl() + "/api/models/org/tiny/paths-info/main", call));
  ASSERT_EQ(r.status, 200) << r.body;
  json::array entries = json::parse(r.body).as_array();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].as_object().at("lfs").as_object().at("oid").as_string(), fx->weights_oid);
  EXPECT_EQ(entries[1].as_object().at("type").as_string(), "directory");
  // huggingface_hub sends a form-encoded body.
  call.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  call.body = "paths=config.json&paths=sub%2Fdir%2Fnested.txt&expand=False";
  ASSERT_OK_AND_ASSIGN(
      HttpReply form,
      HttpFetch(fx->mirrord->BaseUrl() + "/api/models/org/tiny/paths-info/main", call));
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_EQ(json::parse(form.body).as_array().size(), 2u);

  ASSERT_OK_AND_ASSIGN(HttpReply refs, Get("/api/models/org/tiny/refs?include_prs=1"));
  ASSERT_EQ(refs.status, 200);
  json::object o = json::parse(refs.body).as_object();
  EXPECT_EQ(o["branches"].as_array().size(), 2u);
  EXPECT_EQ(o["tags"].as_array().size(), 1u);
  ASSERT_EQ(o["pullRequests"].as_array().size(), 1u);
  EXPECT_EQ(o["pullRequests"].as_array()[0].as_object().at("targetCommit").as_string(),
            fx->pr_commit);
}

TEST_F(HfEndpoint, LargePlainGitFileIsStreamedWithLengthAndRange) {
  const std::string url = "/" + std::string(kBigId) + "/resolve/main/big.bin";
  const std::string size = std::to_string(kBigSize);
  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(url, "HEAD"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), size);
  EXPECT_EQ(head.Header("ETag"), "\"" + BlobId(fx->big) + "\"");
  EXPECT_EQ(head.Header("X-Repo-Commit"), fx->big_commit);

  ASSERT_OK_AND_ASSIGN(HttpReply get, Get(url));
  ASSERT_EQ(get.status, 200) << get.body.substr(0, 200);
  EXPECT_EQ(get.Header("Content-Length"), size);  // sized, not chunked
  EXPECT_EQ(get.Header("Transfer-Encoding"), std::nullopt);
  EXPECT_EQ(get.Header("Accept-Ranges"), "bytes");
  EXPECT_EQ(get.Header("ETag"), head.Header("ETag"));
  EXPECT_EQ(get.body.size(), kBigSize);
  EXPECT_TRUE(get.body == fx->big);

  // A range across the 16 MiB mark, a resume to the end, the first byte, past the end.
  const uint64_t mid = 16u << 20;
  ASSERT_OK_AND_ASSIGN(
      HttpReply part,
      Get(url, "GET",
          {{"Range", "bytes=" + std::to_string(mid - 10) + "-" + std::to_string(mid + 89)}}));
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Header("Content-Range"),
            "bytes " + std::to_string(mid - 10) + "-" + std::to_string(mid + 89) + "/" + size);
  EXPECT_EQ(part.Header("Content-Length"), "100");
  EXPECT_TRUE(part.body == fx->big.substr(mid - 10, 100));
  ASSERT_OK_AND_ASSIGN(HttpReply resume, Get(url, "GET", {{"Range", "bytes=1234567-"}}));
  EXPECT_EQ(resume.status, 206);
  EXPECT_EQ(resume.Header("Content-Range"),
            "bytes 1234567-" + std::to_string(kBigSize - 1) + "/" + size);
  EXPECT_TRUE(resume.body == fx->big.substr(1234567));
  ASSERT_OK_AND_ASSIGN(HttpReply first, Get(url, "GET", {{"Range", "bytes=0-0"}}));
  EXPECT_EQ(first.status, 206);
  EXPECT_EQ(first.body, fx->big.substr(0, 1));
  ASSERT_OK_AND_ASSIGN(HttpReply past, Get(url, "GET", {{"Range", "bytes=" + size + "-"}}));
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(past.Header("Content-Range"), "bytes */" + size);
  EXPECT_EQ(past.Header("X-Repo-Commit"), fx->big_commit);
}

// Peak resident memory of mirrord so far (VmHWM), in KiB; 0 when unreadable.
uint64_t MirrordPeakRssKiB() {
  std::ifstream status("/proc/" + std::to_string(fx->mirrord->process()->pid()) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6));
  }
  return 0;
}

TEST_F(HfEndpoint, LargePlainGitFileDownloadsDoNotHoldTheFileInMemory) {
  // Four concurrent whole downloads of the 17 MiB file: holding it would add at least its
  // size to mirrord's peak RSS; streamed, each download holds one bounded chunk.
  const uint64_t before = MirrordPeakRssKiB();
  ASSERT_GT(before, 0u);
  const std::string url = "/" + std::string(kBigId) + "/resolve/main/big.bin";
  constexpr int kClients = 4;
  std::vector<Result<HttpReply>> replies(kClients, Internal("not run"));
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&replies, &url, i] { replies[i] = Get(url); });
  }
  for (std::thread& t : clients) t.join();
  for (Result<HttpReply>& r : replies) {
    ASSERT_OK(r.status());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == fx->big);
  }
  const uint64_t after = MirrordPeakRssKiB();
  EXPECT_LT(after - before, kBigSize / 1024) << "peak RSS " << before << " -> " << after << " KiB";
}

// A client that asks for `target` and then reads nothing past the status line: its
// download stays in flight on the server (the file is larger than the socket buffers).
// Returns the connected socket, or -1.
int StalledDownload(uint16_t port, const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int small = 4096;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: mirror\r\n\r\n";
  char status[12] = {};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size()) ||
      ::recv(fd, status, sizeof status, MSG_WAITALL) != static_cast<ssize_t>(sizeof status) ||
      std::string_view(status, sizeof status) != "HTTP/1.1 200") {
    ::close(fd);
    return -1;
  }
  return fd;
}

// HTTP/1.0 clients that ask for keep-alive (ab, some proxies) keep their connection across
// HEADs of /resolve/, as with every other answer.
TEST_F(HfEndpoint, Http10KeepAliveHeadsShareOneConnection) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(fx->mirrord->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "HEAD " + Resolve("main", "model.safetensors") +
                              " HTTP/1.0\r\nHost: mirror\r\nConnection: Keep-Alive\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    // A HEAD answer is its header alone: read up to the blank line.
    std::string answer;
    char c = 0;
    while (!answer.ends_with("\r\n\r\n") && answer.size() < 8192) {
      ASSERT_EQ(::recv(fd, &c, 1, 0), 1) << "the connection closed after " << answer;
      answer.push_back(c);
    }
    EXPECT_THAT(answer, ::testing::StartsWith("HTTP/1.0 200"));
    EXPECT_THAT(answer, HasSubstr("X-Repo-Commit: " + fx->second_commit));
    EXPECT_THAT(answer, ::testing::ContainsRegex("[Cc]onnection: [Kk]eep-[Aa]live"));
  }
}

TEST_F(HfEndpoint, ConcurrentLargePlainFileDownloadsAreCapped) {
  const std::string url = "/" + std::string(kBigId) + "/resolve/main/big.bin";
  std::vector<int> stalled;
  for (int i = 0; i < 32; ++i) {  // kHfMaxGitBlobStreams
    int fd = StalledDownload(fx->mirrord->port(), url);
    ASSERT_GE(fd, 0) << "download " << i << " did not start";
    stalled.push_back(fd);
  }
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) ::close(fd);
    }
  } closer{stalled};
  ASSERT_OK_AND_ASSIGN(HttpReply busy, Get(url));
  EXPECT_EQ(busy.status, 503) << busy.body.substr(0, 200);
  EXPECT_EQ(busy.Header("Retry-After"), "1");
  EXPECT_EQ(busy.Header("X-Repo-Commit"), fx->big_commit);
  // HEADs and small files need no git child: they still answer.
  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(url, "HEAD"));
  EXPECT_EQ(head.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpReply small, Get(Resolve("main", "config.json")));
  EXPECT_EQ(small.status, 200);
  // The clients leave: their slots come back.
  for (int fd : stalled) ::close(fd);
  stalled.clear();
  EXPECT_TRUE(PollUntil(
      [&] {
        Result<HttpReply> r = Get(url);
        return r.ok() && r->status == 200 && r->body == fx->big;
      },
      std::chrono::seconds(60)));
}

TEST_F(HfEndpoint, HeadAnswersWithoutReadingTheStoredObject) {
  // The store's copy of model.safetensors cut short: a GET notices (500, never a short
  // body passed off as the file); a HEAD answers from the tree's pointer and a stat alone.
  const std::filesystem::path object = fx->mirrord->store_dir() / "lfs" / "objects" /
                                       fx->weights_oid.substr(0, 2) / fx->weights_oid.substr(2, 2) /
                                       fx->weights_oid;
  ASSERT_OK_AND_ASSIGN(std::string saved, ReadFileToString(object));
  struct Restore {
    std::filesystem::path path;
    std::string bytes;
    ~Restore() { (void)WriteFileAtomically(path, bytes); }
  } restore{object, saved};
  std::filesystem::resize_file(object, 10);
  ASSERT_OK_AND_ASSIGN(HttpReply get, Get(Resolve("main", "model.safetensors")));
  EXPECT_EQ(get.status, 500);
  for (std::string range : {"", "bytes=0-0"}) {
    SCOPED_TRACE(range);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!range.empty()) headers.emplace_back("Range", range);
    ASSERT_OK_AND_ASSIGN(HttpReply head,
                         Get(Resolve("main", "model.safetensors"), "HEAD", headers));
    EXPECT_EQ(head.status, range.empty() ? 200 : 206);
    EXPECT_EQ(head.Header("Content-Length"), range.empty() ? std::to_string(kWeightsSize) : "1");
    EXPECT_EQ(head.Header("ETag"), "\"" + fx->weights_oid + "\"");
    EXPECT_EQ(head.Header("X-Linked-Size"), std::to_string(kWeightsSize));
    EXPECT_EQ(head.Header("X-Repo-Commit"), fx->second_commit);
  }
}

// The value of the sample written exactly as `series` in a /metrics body; -1 when absent.
double SampleOf(const std::string& metrics, std::string_view series) {
  size_t at = 0;
  const std::string key = std::string(series) + " ";
  while ((at = metrics.find(key, at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::stod(metrics.substr(at + key.size()));
    at += key.size();
  }
  return -1;
}

TEST_F(HfEndpoint, MetricsCountRequestsBytesAndLatencyPerEndpoint) {
  auto scrape = [] {
    Result<HttpReply> r = Get("/metrics");
    return r.ok() ? r->body : std::string();
  };
  auto requests = [](std::string_view endpoint, std::string_view code) {
    return "mirrord_hf_requests_total{code=\"" + std::string(code) + "\",endpoint=\"" +
           std::string(endpoint) + "\"}";
  };
  auto bytes = [](std::string_view endpoint) {
    return "mirrord_hf_response_bytes_total{endpoint=\"" + std::string(endpoint) + "\"}";
  };
  auto latency_count = [](std::string_view endpoint) {
    return "mirrord_hf_request_duration_seconds_count{endpoint=\"" + std::string(endpoint) + "\"}";
  };
  const std::string before = scrape();
  ASSERT_GE(SampleOf(before, requests("resolve", "2xx")), 0) << before;

  ASSERT_OK_AND_ASSIGN(HttpReply get, Get(Resolve("main", "config.json")));
  ASSERT_EQ(get.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(Resolve("main", "config.json"), "HEAD"));
  ASSERT_EQ(head.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpReply missing, Get(Resolve("main", "no-such-file")));
  ASSERT_EQ(missing.status, 404);
  ASSERT_OK_AND_ASSIGN(HttpReply info, Get("/api/models/org/tiny"));
  ASSERT_EQ(info.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpReply tree, Get("/api/datasets/org/data/tree/main"));
  ASSERT_EQ(tree.status, 200);
  HttpCall call;
  call.method = "POST";
  call.headers = {{"Content-Type", "application/json"}};
  call.body = R"({"paths": ["config.json"]})";
  ASSERT_OK_AND_ASSIGN(
      HttpReply paths,
      HttpFetch(fx->mirrord->BaseUrl() + "/api/models/org/tiny/paths-info/main", call));
  ASSERT_EQ(paths.status, 200) << paths.body;
  ASSERT_OK_AND_ASSIGN(HttpReply refs, Get("/api/models/org/tiny/refs"));
  ASSERT_EQ(refs.status, 200);
  ASSERT_OK_AND_ASSIGN(HttpReply bad, Get("/api/models/org/tiny/refs/extra"));
  ASSERT_EQ(bad.status, 400);
  const std::string after = scrape();

  auto delta = [&](const std::string& series) {
    return SampleOf(after, series) - SampleOf(before, series);
  };
  EXPECT_EQ(delta(requests("resolve", "2xx")), 2);
  EXPECT_EQ(delta(requests("resolve", "4xx")), 1);
  EXPECT_EQ(delta(requests("api-model", "2xx")), 1);
  EXPECT_EQ(delta(requests("tree", "2xx")), 1);
  EXPECT_EQ(delta(requests("paths-info", "2xx")), 1);
  EXPECT_EQ(delta(requests("refs", "2xx")), 1);
  EXPECT_EQ(delta(requests("invalid", "4xx")), 1);
  // The GET's body and the 404's JSON; the HEAD sent none.
  EXPECT_EQ(delta(bytes("resolve")), static_cast<double>(kConfig.size() + missing.body.size()));
  EXPECT_EQ(delta(bytes("tree")), static_cast<double>(tree.body.size()));
  EXPECT_EQ(delta(latency_count("resolve")), 3);
  EXPECT_EQ(delta(latency_count("refs")), 1);
  // Labels never carry what a client chose (repo, revision, path): bounded cardinality.
  for (std::string_view word : {"org/tiny", "config.json", "no-such-file", "extra", "main"}) {
    size_t at = 0;
    while ((at = after.find("mirrord_hf_", at)) != std::string::npos) {
      std::string line = after.substr(at, after.find('\n', at) - at);
      EXPECT_EQ(line.find(word), std::string::npos) << line;
      at += line.size();
    }
  }
}

TEST_F(HfEndpoint, DatasetsAnswerUnderDatasetsOnly) {
  ASSERT_OK_AND_ASSIGN(HttpReply get, Get("/datasets/org/data/resolve/main/train.csv"));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, kTrainCsv);
  EXPECT_EQ(get.Header("X-Repo-Commit"), fx->dataset_commit);
  ASSERT_OK_AND_ASSIGN(HttpReply info, Get("/api/datasets/org/data"));
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(json::parse(info.body).as_object()["sha"].as_string(), fx->dataset_commit);
  ASSERT_OK_AND_ASSIGN(HttpReply tree, Get("/api/datasets/org/data/tree/main"));
  ASSERT_EQ(tree.status, 200);
  EXPECT_EQ(json::parse(tree.body).as_array().size(), 1u);
  // Not a model, under either spelling; and a model is not a dataset.
  for (std::string path :
       {"/org/data/resolve/main/train.csv", "/datasets/org/data/resolve/main/../train.csv",
        "/api/models/org/data", "/api/models/datasets/org/data",
        "/datasets/org/tiny/resolve/main/config.json", "/api/datasets/org/tiny"}) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get(path));
    EXPECT_NE(r.status, 200) << path;
    EXPECT_NE(r.body, kTrainCsv) << path;
  }
}

TEST_F(HfEndpoint, OversizedPathsInfoBodyIsRefused) {
  HttpCall call;
  call.method = "POST";
  call.headers = {{"Content-Type", "application/json"}};
  call.body = R"({"paths": [)" + std::string(2 << 20, ' ') + "]}";
  Result<HttpReply> r =
      HttpFetch(fx->mirrord->BaseUrl() + "/api/models/org/tiny/paths-info/main", call);
  if (r.ok()) {
    EXPECT_EQ(r->status, 413);  // else the server closed the connection mid-upload
  }
  json::array many;
  for (int i = 0; i < 1001; ++i) many.push_back(json::string("f" + std::to_string(i)));
  call.body = json::serialize(json::object{{"paths", many}});
  ASSERT_OK_AND_ASSIGN(
      HttpReply too_many,
      HttpFetch(fx->mirrord->BaseUrl() + "/api/models/org/tiny/paths-info/main", call));
  EXPECT_EQ(too_many.status, 400);
}

// Installs the pinned @huggingface/hub from the npm registry into <build>/hf_client (once:
// later runs reuse it while the lock file is unchanged) next to the driver script. Fails,
// never skips, when npm or the registry is unavailable.
Result<std::filesystem::path> PrepareHfClient() {
  const std::filesystem::path src =
      std::filesystem::path(MIRRORD_SOURCE_DIR) / "tests" / "integration" / "hf_client";
  const std::filesystem::path dir = std::filesystem::path(MIRRORD_BINARY_DIR) / "hf_client";
  RETURN_IF_ERROR(CreateDirectories(dir));
  ASSIGN_OR_RETURN(std::string lock, ReadFileToString(src / "package-lock.json"));
  Result<std::string> installed_lock = ReadFileToString(dir / "package-lock.json");
  const bool cached =
      installed_lock.ok() && *installed_lock == lock &&
      std::filesystem::exists(dir / "node_modules" / "@huggingface" / "hub" / "package.json");
  for (const char* name : {"package.json", "package-lock.json", "hf_client.mjs"}) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(src / name));
    RETURN_IF_ERROR(WriteFileAtomically(dir / name, text));
  }
  if (cached) return dir;
  ProcessOptions o;
  o.cwd = dir;
  o.timeout = std::chrono::minutes(5);
  Result<ProcessResult> r = RunProcess({"npm", "ci", "--no-audit", "--no-fund"}, o);
  if (!r.ok() || !r->ok()) {
    return Unavailable("npm could not install @huggingface/hub " + std::string(kHfHubVersion) +
                       " from the npm registry into " + dir.string() +
                       " (this test needs the real client; scripts/bootstrap installs npm): " +
                       (r.ok() ? r->Describe() : r.status().ToString()));
  }
  return dir;
}

TEST_F(HfEndpoint, HuggingFaceJsClientListsAndDownloads) {
  ASSERT_OK_AND_ASSIGN(std::filesystem::path client, PrepareHfClient());
  const std::filesystem::path out = fx->dir->path() / "js-client";
  ProcessOptions o;
  o.cwd = client;
  o.timeout = std::chrono::minutes(3);
  o.env = {{"HUB_URL", fx->mirrord->BaseUrl()}, {"REPO", std::string(kHubId)},
           {"MANY_REPO", std::string(kManyId)}, {"LFS_FILE", "model.safetensors"},
           {"GIT_FILE", "sub/dir/nested.txt"},  {"OUT_DIR", out.string()}};
  ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess({"node", "hf_client.mjs"}, o));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << fx->mirrord->Logs();
  // The client logs progress on stdout (console.debug); the driver's result is the last line.
  std::string_view stdout_text = Trim(r.stdout_text);
  std::string_view last = stdout_text.substr(stdout_text.rfind('\n') + 1);
  boost::system::error_code ec;
  json::value parsed = json::parse(last, ec);
  ASSERT_FALSE(ec) << r.stdout_text;
  json::object res = parsed.as_object();

  // listFiles, recursive: every entry with the Hub's fields.
  std::map<std::string, json::object> files;
  for (const json::value& v : res["files"].as_array()) {
    files[std::string(v.as_object().at("path").as_string())] = v.as_object();
  }
  EXPECT_EQ(files.size(), 7u);
  const json::object& w = files["model.safetensors"];
  EXPECT_EQ(w.at("size").as_int64(), static_cast<int64_t>(kWeightsSize));
  EXPECT_EQ(w.at("lfs").as_object().at("oid").as_string(), fx->weights_oid);
  EXPECT_EQ(files["sub/dir"].at("type").as_string(), "directory");
  EXPECT_EQ(files["config.json"].at("oid").as_string(), BlobId(kConfig));
  // listFiles followed Link: rel="next" across pages.
  EXPECT_EQ(res["manyFiles"].as_int64(), kManyFiles);
  EXPECT_EQ(res["manyPages"].as_int64(), 2);

  // fileDownloadInfo: size and etag from the Range 0-0 probe; no Xet.
  const json::object& lfs_info = res["info"].as_object().at("model.safetensors").as_object();
  EXPECT_EQ(lfs_info.at("size").as_int64(), static_cast<int64_t>(kWeightsSize));
  EXPECT_EQ(lfs_info.at("etag").as_string(), "\"" + fx->weights_oid + "\"");
  EXPECT_TRUE(lfs_info.at("xet").is_null());
  const json::object& git_info = res["info"].as_object().at("sub/dir/nested.txt").as_object();
  EXPECT_EQ(git_info.at("size").as_int64(), static_cast<int64_t>(kNested.size()));
  EXPECT_EQ(git_info.at("etag").as_string(), "\"" + BlobId(kNested) + "\"");
  EXPECT_TRUE(res["missing"].is_null());  // EntryNotFound is null, not an error

  // downloadFile: byte-identical.
  ASSERT_OK_AND_ASSIGN(std::string got_weights,
                       ReadFileToString(out / "download" / "model.safetensors"));
  EXPECT_TRUE(got_weights == Weights());
  ASSERT_OK_AND_ASSIGN(std::string got_nested,
                       ReadFileToString(out / "download" / "sub_dir_nested.txt"));
  EXPECT_EQ(got_nested, kNested);

  // snapshotDownload: the whole repo at main, byte-identical with the upstream.
  const std::filesystem::path snapshot(std::string(res["snapshot"].as_string()));
  EXPECT_EQ(snapshot.filename().string(), fx->second_commit);
  ASSERT_OK_AND_ASSIGN(std::string upstream_weights,
                       ReadFileToString(snapshot / "model.safetensors"));
  EXPECT_TRUE(upstream_weights == Weights());
  EXPECT_EQ(Sha256Hex(upstream_weights), fx->weights_oid);
  ASSERT_OK_AND_ASSIGN(std::string config, ReadFileToString(snapshot / "config.json"));
  EXPECT_EQ(config, kConfig);
  ASSERT_OK_AND_ASSIGN(std::string nested, ReadFileToString(snapshot / "sub/dir/nested.txt"));
  EXPECT_EQ(nested, kNested);
  ASSERT_OK_AND_ASSIGN(std::string attributes, ReadFileToString(snapshot / ".gitattributes"));
  EXPECT_EQ(attributes, "*.safetensors filter=lfs diff=lfs merge=lfs -text\n");
  int snapshot_files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(snapshot)) {
    if (!e.is_directory()) ++snapshot_files;
  }
  ASSERT_OK_AND_ASSIGN(std::string extra, ReadFileToString(snapshot / "extra.bin"));
  EXPECT_EQ(Sha256Hex(extra), fx->extra_oid);
  EXPECT_EQ(snapshot_files, 5);
}

}  // namespace
}  // namespace mirrord::test
