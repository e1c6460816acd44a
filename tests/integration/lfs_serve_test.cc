// mirrord's LFS server (<name>.git/info/lfs/...) as git-lfs clients and plain HTTP clients see
// it: uploads refused with a clear message, the locking API absent the way git-lfs expects,
// objects served only to repos that reference them, Range and HEAD on object GETs, and
// pull-through of objects a repo's filters kept out of its syncs (fetched on first request,
// then kept).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kMediaType = "application/vnd.git-lfs+json";
constexpr std::string_view kAlpha = "org/alpha";
constexpr std::string_view kBeta = "org/beta";
constexpr std::string_view kFiltered = "org/filtered";  // [[repos]] lfs_exclude = ["*.bin"]

std::string PointerText(const std::string& oid, uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize " +
         std::to_string(size) + "\n";
}

Result<RepoStatus> StatusJson(MirrordProcess& m, std::string_view name) {
  ASSIGN_OR_RETURN(ProcessResult r, m.Mirrorctl({"status", std::string(name), "--json"}));
  if (!r.ok()) return Internal("mirrorctl status --json: " + r.Describe());
  ASSIGN_OR_RETURN(json::value v, ParseJson(r.stdout_text));
  return RepoStatusFromJson(v);
}

Result<json::value> ParseBody(const HttpReply& reply) {
  boost::system::error_code ec;
  json::value v = json::parse(reply.body, ec);
  if (ec) return Internal("not JSON (HTTP " + std::to_string(reply.status) + "): " + reply.body);
  return v;
}

// The "message" of an LFS error body, "" when there is none.
std::string LfsMessage(const HttpReply& reply) {
  Result<json::value> v = ParseBody(reply);
  if (!v.ok() || !v->is_object()) return "";
  const json::value* m = v->as_object().if_contains("message");
  return m != nullptr && m->is_string() ? std::string(m->as_string()) : "";
}

// One LFS file of an upstream repo.
struct LfsFile {
  std::string path;
  uint64_t size = 0;
  std::string oid;
};

class LfsServe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("lfs-serve-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));

    MakeRepo(kAlpha, {{"model.safetensors", 1 << 20, 1}, {"extra.bin", 300 << 10, 2}}, &alpha_);
    MakeRepo(kBeta, {{"beta.bin", 512 << 10, 3}}, &beta_);
    MakeRepo(kFiltered, {{"model.safetensors", 700 << 10, 4}, {"weights.bin", 3 << 19, 5}},
             &filtered_);
    if (HasFatalFailure()) return;

    MirrordOptions o;
    o.extra_toml = "[sync]\nmaintenance = false\n\n[[repos]]\nname = \"" + std::string(kFiltered) +
                   "\"\nurl = \"" + upstream_->UrlFor(kFiltered) +
                   "\"\npoll_interval = \"1d\"\nlfs_exclude = [\"*.bin\"]\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    for (std::string_view name : {kAlpha, kBeta}) {
      ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(name), "--url",
                                                                 upstream_->UrlFor(name)}));
      ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
    }
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(kFiltered)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  // Creates upstream repo `name` whose tree holds `files` as LFS pointers (objects of
  // seeded bytes stored at the upstream's LFS endpoint) next to a README.
  struct Spec {
    std::string path;
    uint64_t size;
    uint64_t seed;
  };
  void MakeRepo(std::string_view name, const std::vector<Spec>& specs,
                std::vector<LfsFile>* files) {
    std::string dir_name(name);
    std::replace(dir_name.begin(), dir_name.end(), '/', '-');
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(Scratch("work-" + dir_name)));
    ASSERT_OK(work.WriteFile(".gitattributes",
                             "*.bin filter=lfs diff=lfs merge=lfs -text\n"
                             "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"));
    ASSERT_OK(work.WriteFile("README.md", "# " + std::string(name) + "\n"));
    for (const Spec& s : specs) {
      ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutGeneratedObject(s.size, s.seed));
      ASSERT_OK(work.WriteFile(s.path, PointerText(oid, s.size)));
      files->push_back({s.path, s.size, oid});
    }
    ASSERT_OK(work.Commit("weights").status());
    ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo(name));
    GitOptions o;  // the objects are at the upstream already: no pre-push upload
    o.env["GIT_LFS_SKIP_PUSH"] = "1";
    ASSERT_OK(work.PushMirror(bare.string(), o));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  std::string LfsUrl(std::string_view repo) const { return mirrord_->UrlFor(repo) + "/info/lfs"; }

  // POSTs a Batch API request to mirrord for `repo`.
  Result<HttpReply> Batch(std::string_view repo, std::string_view operation,
                          const std::vector<std::pair<std::string, uint64_t>>& objects) {
    json::array list;
    for (const auto& [oid, size] : objects)
      list.push_back(json::object{{"oid", oid}, {"size", size}});
    json::object request{{"operation", operation},
                         {"transfers", json::array{"basic"}},
                         {"ref", json::object{{"name", "refs/heads/main"}}},
                         {"objects", std::move(list)}};
    HttpCall call;
    call.method = "POST";
    call.headers = {{"Accept", std::string(kMediaType)}, {"Content-Type", std::string(kMediaType)}};
    call.body = json::serialize(request);
    return HttpFetch(LfsUrl(repo) + "/objects/batch", call);
  }

  Result<HttpReply> GetObject(std::string_view repo, const std::string& oid,
                              std::vector<std::pair<std::string, std::string>> headers = {},
                              std::string method = "GET") {
    HttpCall call;
    call.method = std::move(method);
    call.headers = std::move(headers);
    return HttpFetch(LfsUrl(repo) + "/objects/" + oid, call);
  }

  // Clones `repo` from mirrord and runs `git lfs pull`; the files must equal the upstream's
  // objects.
  void CloneAndExpect(std::string_view repo, const std::vector<LfsFile>& files,
                      std::filesystem::path* dest_out = nullptr) {
    std::filesystem::path dest = Scratch("clone-" + std::to_string(++clones_));
    GitOptions no_smudge;
    no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
    ASSERT_OK(
        Git({"clone", "--quiet", mirrord_->UrlFor(repo), dest.string()}, {}, no_smudge).status());
    ASSERT_OK(Git({"lfs", "pull"}, dest).status());
    for (const LfsFile& f : files) {
      ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(f.oid)));
      ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dest / f.path));
      EXPECT_EQ(got.size(), f.size) << f.path;
      EXPECT_TRUE(got == want) << f.path << " differs from the upstream's object";
    }
    ASSERT_OK(Git({"lfs", "fsck"}, dest).status());
    if (dest_out != nullptr) *dest_out = dest;
  }

  std::filesystem::path StoredObject(const std::string& oid) const {
    return mirrord_->store_dir() / "lfs" / "objects" / oid.substr(0, 2) / oid.substr(2, 2) / oid;
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::vector<LfsFile> alpha_;
  std::vector<LfsFile> beta_;
  std::vector<LfsFile> filtered_;
  int clones_ = 0;
};

TEST_F(LfsServe, UploadsAreRefusedWithAClearMessage) {
  const LfsFile& f = alpha_[0];
  ASSERT_OK_AND_ASSIGN(HttpReply upload, Batch(kAlpha, "upload", {{f.oid, f.size}}));
  EXPECT_EQ(upload.status, 403) << upload.body;
  EXPECT_THAT(upload.Header("Content-Type").value_or(""), StartsWith(std::string(kMediaType)));
  EXPECT_THAT(LfsMessage(upload), HasSubstr("read-only mirror")) << upload.body;

  ASSERT_OK_AND_ASSIGN(std::string content, ReadFileToString(lfs_->ObjectPath(f.oid)));
  HttpCall put;
  put.method = "PUT";
  put.headers = {{"Content-Type", "application/octet-stream"}};
  put.body = content;
  ASSERT_OK_AND_ASSIGN(HttpReply put_reply, HttpFetch(LfsUrl(kAlpha) + "/objects/" + f.oid, put));
  EXPECT_EQ(put_reply.status, 403) << put_reply.body;
  EXPECT_THAT(LfsMessage(put_reply), HasSubstr("read-only mirror")) << put_reply.body;

  // The real client uploading a new LFS object to the mirror is told why it cannot.
  std::filesystem::path dest;
  CloneAndExpect(kAlpha, alpha_, &dest);
  const std::string new_content = "new weights that only exist in this clone\n";
  ASSERT_OK(WriteFileAtomically(dest / "new.bin", new_content));
  ASSERT_OK(Git({"add", "new.bin"}, dest).status());
  ASSERT_OK(Git({"commit", "--quiet", "-m", "new weights"}, dest).status());
  ASSERT_OK_AND_ASSIGN(ProcessResult lfs_push, RunGit({"lfs", "push", "origin", "main"}, dest));
  EXPECT_FALSE(lfs_push.ok()) << lfs_push.Describe();
  EXPECT_THAT(lfs_push.stderr_text, HasSubstr("read-only mirror")) << lfs_push.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(StoredObject(Sha256Hex(new_content))));
  // And `git push` (whose pre-push hook would upload the object) is refused too.
  ASSERT_OK(Git({"lfs", "install", "--local"}, dest).status());
  ASSERT_OK_AND_ASSIGN(ProcessResult push,
                       RunGit({"push", "origin", "HEAD:refs/heads/main"}, dest));
  EXPECT_FALSE(push.ok()) << push.Describe();
  EXPECT_THAT(push.stderr_text, HasSubstr("read-only mirror")) << push.stderr_text;
  // The mirror is unchanged.
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor(kAlpha)}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kAlpha)}));
  EXPECT_EQ(got, want);
}

TEST_F(LfsServe, LocksApiAnswersNotFound) {
  HttpCall verify;
  verify.method = "POST";
  verify.headers = {{"Accept", std::string(kMediaType)}, {"Content-Type", std::string(kMediaType)}};
  verify.body = R"({"ref":{"name":"refs/heads/main"}})";
  ASSERT_OK_AND_ASSIGN(HttpReply r, HttpFetch(LfsUrl(kAlpha) + "/locks/verify", verify));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_THAT(r.Header("Content-Type").value_or(""), StartsWith(std::string(kMediaType)));
  EXPECT_THAT(LfsMessage(r), HasSubstr("lock")) << r.body;

  ASSERT_OK_AND_ASSIGN(HttpReply list, HttpFetch(LfsUrl(kAlpha) + "/locks"));
  EXPECT_EQ(list.status, 404) << list.body;
  HttpCall create = verify;
  create.body = R"({"path":"extra.bin","ref":{"name":"refs/heads/main"}})";
  ASSERT_OK_AND_ASSIGN(HttpReply created, HttpFetch(LfsUrl(kAlpha) + "/locks", create));
  EXPECT_EQ(created.status, 404) << created.body;

  // git-lfs takes that as "no locking here" and downloads as usual.
  CloneAndExpect(kAlpha, alpha_);
}

TEST_F(LfsServe, ObjectsAreServedOnlyToReposThatReferenceThem) {
  const LfsFile& mine = alpha_[0];
  const LfsFile& theirs = beta_[0];
  const std::string nobodys = Sha256Hex("referenced by no repo");

  ASSERT_OK_AND_ASSIGN(HttpReply batch, Batch(kAlpha, "download",
                                              {{mine.oid, mine.size},
                                               {theirs.oid, theirs.size},
                                               {nobodys, 21},
                                               {alpha_[1].oid, alpha_[1].size + 1}}));
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_THAT(batch.Header("Content-Type").value_or(""), StartsWith(std::string(kMediaType)));
  ASSERT_OK_AND_ASSIGN(json::value doc, ParseBody(batch));
  boost::system::error_code ec;
  const json::value* objects = doc.find_pointer("/objects", ec);
  ASSERT_TRUE(objects != nullptr && objects->is_array()) << batch.body;
  ASSERT_EQ(objects->as_array().size(), 4u) << batch.body;
  const json::object& ok = objects->as_array()[0].as_object();
  EXPECT_EQ(ok.at("oid").as_string(), mine.oid);
  const json::value* href = doc.find_pointer("/objects/0/actions/download/href", ec);
  ASSERT_TRUE(href != nullptr && href->is_string()) << batch.body;
  EXPECT_EQ(std::string(href->as_string()), LfsUrl(kAlpha) + "/objects/" + mine.oid);
  EXPECT_FALSE(ok.contains("error")) << batch.body;
  for (size_t i : {1, 2}) {
    const json::value* code = doc.find_pointer("/objects/" + std::to_string(i) + "/error/code", ec);
    ASSERT_TRUE(code != nullptr && code->is_int64()) << batch.body;
    EXPECT_EQ(code->as_int64(), 404) << batch.body;
    EXPECT_FALSE(objects->as_array()[i].as_object().contains("actions")) << batch.body;
  }
  const json::value* size_error = doc.find_pointer("/objects/3/error/code", ec);
  ASSERT_TRUE(size_error != nullptr && size_error->is_int64()) << batch.body;
  EXPECT_EQ(size_error->as_int64(), 422) << batch.body;

  // The same on direct GETs: beta's object is not alpha's to give.
  ASSERT_OK_AND_ASSIGN(HttpReply via_alpha, GetObject(kAlpha, theirs.oid));
  EXPECT_EQ(via_alpha.status, 404);
  EXPECT_TRUE(via_alpha.body.find(std::string(1, '\0')) == std::string::npos);
  ASSERT_OK_AND_ASSIGN(HttpReply via_beta, GetObject(kBeta, theirs.oid));
  EXPECT_EQ(via_beta.status, 200);
  ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(theirs.oid)));
  EXPECT_TRUE(via_beta.body == want);
  ASSERT_OK_AND_ASSIGN(HttpReply nobody, GetObject(kAlpha, nobodys));
  EXPECT_EQ(nobody.status, 404);
  ASSERT_OK_AND_ASSIGN(HttpReply bad_oid, GetObject(kAlpha, "not-an-oid"));
  EXPECT_EQ(bad_oid.status, 404);
  ASSERT_OK_AND_ASSIGN(HttpReply not_mirrored,
                       Batch("org/unknown", "download", {{mine.oid, mine.size}}));
  EXPECT_EQ(not_mirrored.status, 404) << not_mirrored.body;
  ASSERT_OK_AND_ASSIGN(HttpReply not_mirrored_get, GetObject("org/unknown", mine.oid));
  EXPECT_EQ(not_mirrored_get.status, 404);
}

TEST_F(LfsServe, RangeAndHeadRequests) {
  const LfsFile& f = alpha_[0];  // 1 MiB
  ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(f.oid)));
  const std::string size = std::to_string(f.size);
  const int upstream_gets = lfs_->ObjectGets(f.oid);

  ASSERT_OK_AND_ASSIGN(HttpReply whole, GetObject(kAlpha, f.oid));
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.Header("Content-Length").value_or(""), size);
  EXPECT_EQ(whole.Header("Accept-Ranges").value_or(""), "bytes");
  EXPECT_EQ(whole.Header("Content-Type").value_or(""), "application/octet-stream");
  EXPECT_TRUE(whole.body == want);

  struct Case {
    std::string range;
    uint64_t first;
    uint64_t last;
  };
  for (const Case& c :
       {Case{"bytes=1000-1999", 1000, 1999}, Case{"bytes=0-0", 0, 0},
        Case{"bytes=1048000-", 1048000, f.size - 1}, Case{"bytes=-100", f.size - 100, f.size - 1},
        Case{"bytes=524288-99999999", 524288, f.size - 1}}) {
    SCOPED_TRACE(c.range);
    ASSERT_OK_AND_ASSIGN(HttpReply part, GetObject(kAlpha, f.oid, {{"Range", c.range}}));
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.Header("Content-Range").value_or(""),
              "bytes " + std::to_string(c.first) + "-" + std::to_string(c.last) + "/" + size);
    EXPECT_EQ(part.Header("Content-Length").value_or(""), std::to_string(c.last - c.first + 1));
    EXPECT_TRUE(part.body == want.substr(c.first, c.last - c.first + 1));
  }
  ASSERT_OK_AND_ASSIGN(HttpReply past_end,
                       GetObject(kAlpha, f.oid, {{"Range", "bytes=" + size + "-"}}));
  EXPECT_EQ(past_end.status, 416);
  EXPECT_EQ(past_end.Header("Content-Range").value_or(""), "bytes */" + size);

  ASSERT_OK_AND_ASSIGN(HttpReply head, GetObject(kAlpha, f.oid, {}, "HEAD"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length").value_or(""), size);
  EXPECT_EQ(head.Header("Accept-Ranges").value_or(""), "bytes");
  EXPECT_TRUE(head.body.empty());
  ASSERT_OK_AND_ASSIGN(HttpReply head_range,
                       GetObject(kAlpha, f.oid, {{"Range", "bytes=10-19"}}, "HEAD"));
  EXPECT_EQ(head_range.status, 206);
  EXPECT_EQ(head_range.Header("Content-Length").value_or(""), "10");
  EXPECT_TRUE(head_range.body.empty());

  // All of it came from mirrord's store.
  EXPECT_EQ(lfs_->ObjectGets(f.oid), upstream_gets);
}

TEST_F(LfsServe, FilteredObjectsArePulledThroughOnDemandAndKept) {
  const LfsFile& kept = filtered_[0];     // model.safetensors: synced
  const LfsFile& skipped = filtered_[1];  // weights.bin: excluded by lfs_exclude
  EXPECT_EQ(lfs_->ObjectGets(kept.oid), 1);
  EXPECT_EQ(lfs_->ObjectGets(skipped.oid), 0) << "an excluded object was fetched by the sync";
  EXPECT_FALSE(std::filesystem::exists(StoredObject(skipped.oid)));
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kFiltered));
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(status.lfs_objects, 2u);
  EXPECT_EQ(status.lfs_present_objects, 1u);
  EXPECT_EQ(status.lfs_present_bytes, kept.size);

  // The mirror still offers it, and the first client's request fetches it from upstream.
  ASSERT_OK_AND_ASSIGN(HttpReply batch,
                       Batch(kFiltered, "download", {{skipped.oid, skipped.size}}));
  ASSERT_EQ(batch.status, 200) << batch.body;
  ASSERT_OK_AND_ASSIGN(json::value doc, ParseBody(batch));
  boost::system::error_code ec;
  EXPECT_NE(doc.find_pointer("/objects/0/actions/download/href", ec), nullptr) << batch.body;
  EXPECT_EQ(lfs_->ObjectGets(skipped.oid), 0);  // offering is not fetching

  CloneAndExpect(kFiltered, filtered_);
  EXPECT_EQ(lfs_->ObjectGets(skipped.oid), 1);
  EXPECT_EQ(lfs_->BytesServed(skipped.oid), skipped.size);
  EXPECT_TRUE(std::filesystem::exists(StoredObject(skipped.oid)));
  ASSERT_OK_AND_ASSIGN(status, StatusJson(*mirrord_, kFiltered));
  EXPECT_EQ(status.lfs_present_objects, 2u);

  // Kept: later clients are served from the store, even with the upstream gone.
  CloneAndExpect(kFiltered, filtered_);
  EXPECT_EQ(lfs_->ObjectGets(skipped.oid), 1);
  upstream_->Stop();
  CloneAndExpect(kFiltered, filtered_);
}

TEST_F(LfsServe, PullThroughFailureIsAClearErrorNotWrongBytes) {
  const LfsFile& skipped = filtered_[1];
  LfsObjectFault corrupt;
  corrupt.corrupt_offset = 12345;
  corrupt.corrupt_times = 1000;
  lfs_->SetObjectFault(skipped.oid, corrupt);
  ASSERT_OK_AND_ASSIGN(HttpReply r, GetObject(kFiltered, skipped.oid));
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_THAT(LfsMessage(r), HasSubstr("SHA-256 mismatch")) << r.body;
  EXPECT_FALSE(std::filesystem::exists(StoredObject(skipped.oid)));

  lfs_->ClearObjectFaults();
  ASSERT_OK_AND_ASSIGN(HttpReply again, GetObject(kFiltered, skipped.oid));
  EXPECT_EQ(again.status, 200);
  ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(skipped.oid)));
  EXPECT_TRUE(again.body == want);
}

}  // namespace
}  // namespace mirrord::test
