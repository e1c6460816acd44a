// The HTTP threads never wait for SQLite: while another process holds the catalog locked
// (exclusive locking mode, so even reads wait), clones of unknown names get their 404 and
// clones of a served repo succeed, before the lock is released. Before the serving gate was
// made memory-only, each unknown name cost an HTTP thread the catalog's 5 s busy timeout,
// one after the other (the catalog serialises its connection): the 16 requests below
// would have needed 80 s, past the test's deadline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "storage/sqlite.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;

TEST(BusyCatalog, UnknownRepoClonesAreAnsweredWhileTheCatalogIsLocked) {
  if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("busy-catalog-"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestUpstream> upstream,
                       TestUpstream::Start(dir.path() / "upstream"));
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir.path() / "work"));
  ASSERT_OK(work.CommitFile("README.md", "v1\n", "one").status());
  ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream->CreateBareRepo("org/known"));
  ASSERT_OK(work.Push(bare.string(), {"refs/heads/main:refs/heads/main"}));

  MirrordOptions options;
  options.work_dir = dir.path() / "node";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> m, MirrordProcess::Start(options));
  ASSERT_OK_AND_ASSIGN(ProcessResult synced,
                       m->Mirrorctl({"sync", "org/known", "--url", upstream->UrlFor("org/known")}));
  ASSERT_TRUE(synced.ok()) << synced.Describe() << "\n" << m->Logs();
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream->UrlFor("org/known")}));

  // Another process takes the catalog: exclusive locking mode and a write transaction, so
  // mirrord's reads and writes wait for it.
  ASSERT_OK_AND_ASSIGN(Db holder, Db::Open(m->store_dir() / "catalog.sqlite", SQLITE_OPEN_READWRITE));
  ASSERT_OK(holder.Exec("PRAGMA locking_mode = EXCLUSIVE"));
  ASSERT_OK(holder.Exec("BEGIN EXCLUSIVE"));
  ASSERT_OK(holder.Exec("UPDATE repos SET updated_at = updated_at"));

  constexpr int kUnknown = 16;
  std::vector<std::optional<Result<HttpReply>>> replies(kUnknown);
  std::vector<std::thread> clients;
  for (int i = 0; i < kUnknown; ++i) {
    clients.emplace_back([&, i] {
      HttpCall call;
      call.timeout = std::chrono::seconds(60);  // the fixture deadline, not a measurement
      replies[i] = HttpFetch(m->UrlFor("nobody/unknown-" + std::to_string(i)) +
                                 "/info/refs?service=git-upload-pack",
                             call);
    });
  }
  Result<std::string> served = Git({"ls-remote", m->UrlFor("org/known")});
  Result<HttpReply> health = HttpFetch(m->BaseUrl() + "/healthz");
  for (std::thread& t : clients) t.join();
  // Every answer above came while the lock was held: only now does the catalog become free.
  ASSERT_OK(holder.Exec("COMMIT"));

  ASSERT_OK(served) << m->Logs();
  EXPECT_EQ(*served, want);
  ASSERT_OK(health);
  EXPECT_EQ(health->status, 200);
  for (int i = 0; i < kUnknown; ++i) {
    ASSERT_TRUE(replies[i].has_value());
    ASSERT_OK(*replies[i]) << "request " << i << "\n" << m->Logs();
    EXPECT_EQ((*replies[i])->status, 404) << (*replies[i])->body;
    EXPECT_THAT((*replies[i])->body, HasSubstr("repository not found"));
  }
}

}  // namespace
}  // namespace mirrord::test
