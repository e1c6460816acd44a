// The HTTP threads never wait for SQLite: while another process holds the catalog's write
// lock and mirrord's own catalog writers wait for it, clones of unknown names get their 404
// and a clone of a served repo succeeds, before the lock is released and before any of the
// waiting writers is answered. Before the serving gate was made memory-only, an unknown
// name was looked up in the catalog on the HTTP thread, queued behind those writers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
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

  // Another process takes the catalog's write lock and keeps it. mirrord's own writers then
  // wait in SQLite's busy timeout (5 s) each, holding the catalog: two manual syncs are
  // asked for, whose first catalog and queue writes wait so.
  ASSERT_OK_AND_ASSIGN(Db holder,
                       Db::Open(m->store_dir() / "catalog.sqlite", SQLITE_OPEN_READWRITE));
  ASSERT_OK(holder.Exec("BEGIN IMMEDIATE"));
  ASSERT_OK(holder.Exec("UPDATE repos SET updated_at = updated_at"));
  ASSERT_OK_AND_ASSIGN(std::string token, m->AdminToken());

  // The order in which answers arrive.
  std::atomic<int> answers{0};
  constexpr int kSyncs = 2;
  std::vector<int> sync_answered(kSyncs, 0);
  std::vector<std::thread> syncs;
  for (int i = 0; i < kSyncs; ++i) {
    syncs.emplace_back([&, i] {
      HttpCall call;
      call.method = "POST";
      call.headers = {{"Authorization", "Bearer " + token}};
      call.timeout = std::chrono::seconds(60);
      (void)HttpFetch(m->BaseUrl() + "/api/v1/repos/org/known:sync", call);
      sync_answered[i] = ++answers;
    });
  }
  constexpr int kUnknown = 16;
  std::vector<std::optional<Result<HttpReply>>> replies(kUnknown);
  std::vector<int> unknown_answered(kUnknown, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kUnknown; ++i) {
    clients.emplace_back([&, i] {
      HttpCall call;
      call.timeout = std::chrono::seconds(60);  // the fixture deadline, not a measurement
      replies[i] = HttpFetch(
          m->UrlFor("nobody/unknown-" + std::to_string(i)) + "/info/refs?service=git-upload-pack",
          call);
      unknown_answered[i] = ++answers;
    });
  }
  Result<std::string> served = Git({"ls-remote", m->UrlFor("org/known")});
  const int served_at = ++answers;
  Result<HttpReply> health = HttpFetch(m->BaseUrl() + "/healthz");
  for (std::thread& t : clients) t.join();
  // Every answer above came while the lock was held: only now does the catalog become free.
  ASSERT_OK(holder.Exec("COMMIT"));
  for (std::thread& t : syncs) t.join();

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
  // Clones never waited for the busy catalog: they were all answered before either of the
  // syncs, whose catalog writes were waiting all along.
  const int first_sync = *std::min_element(sync_answered.begin(), sync_answered.end());
  for (int i = 0; i < kUnknown; ++i) EXPECT_LT(unknown_answered[i], first_sync) << i;
  EXPECT_LT(served_at, first_sync) << m->Logs();
}

}  // namespace
}  // namespace mirrord::test
