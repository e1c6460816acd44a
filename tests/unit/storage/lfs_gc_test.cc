// Garbage collection of the LFS store (storage/lfs_gc.h) with a real SQLite catalog and a
// real blob store: what the mark keeps (refs, images, pins), the grace, dry runs, purges,
// and every interleaving of a sync publishing a reference with a sweep of the same object.
#include "storage/lfs_gc.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

constexpr int64_t kDay = 86400;

struct Obj {
  std::string data;
  std::string oid;
};

Obj MakeObj(std::string data) {
  std::string oid = Sha256Hex(data);
  return {std::move(data), std::move(oid)};
}

class LfsGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-lfs-gc-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.sqlite"));
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(dir_->path() / "lfs"));
  }

  int64_t AddRepo(const std::string& name) {
    RepoRecord r;
    r.name = name;
    r.upstream = "hf";
    r.path = name;
    auto inserted = catalog_->InsertRepo(r);
    EXPECT_OK(inserted);
    return inserted.ok() ? inserted->id : 0;
  }

  // Downloads `o` into the store and records it present, as a sync does.
  void Store(const Obj& o, int64_t now) {
    LfsObjectRecord r;
    r.oid = o.oid;
    r.size = o.data.size();
    ASSERT_OK(catalog_->AddLfsObjects({r}, now));
    if (!store_->Contains(o.oid)) {
      ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
      ASSERT_OK(p->WriteAt(0, o.data));
      ASSERT_OK(p->CommitRange({0, o.data.size()}));
      ASSERT_OK(p->Publish());
    }
    ASSERT_OK(catalog_->MarkLfsObjectPresent(o.oid, now));
  }

  // Publishes `objs` as the only LFS references of `repo` (on refs/heads/main).
  void Publish(int64_t repo, const std::vector<const Obj*>& objs, int64_t now) {
    std::vector<LfsRefRecord> refs;
    for (const Obj* o : objs)
      refs.push_back({"refs/heads/main", o->oid, o->data.size(), "w", true});
    ASSERT_OK(catalog_->ReplaceRefs(repo, {{"refs/heads/main", std::string(40, '1'), ""}},
                                    "refs/heads/main", now, &refs));
  }

  Result<LfsGcReport> Gc(int64_t now, int64_t grace, bool dry = false) {
    LfsGcOptions options;
    options.grace = std::chrono::seconds(grace);
    options.dry_run = dry;
    return CollectLfsGarbage(*catalog_, *store_, now, options);
  }

  static std::vector<std::string> Oids(const LfsGcReport& r) {
    std::vector<std::string> out;
    for (const LfsGcCandidate& c : r.swept) out.push_back(c.oid);
    return out;
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(LfsGcTest, SweepsOnlyWhatNoRepoReferencesAfterTheGrace) {
  const Obj shared = MakeObj("shared weights");
  const Obj own = MakeObj("weights only the removed repo had");
  const int64_t live = AddRepo("org/live");
  const int64_t gone = AddRepo("org/gone");
  Store(shared, 100);
  Store(own, 100);
  Publish(live, {&shared}, 100);
  Publish(gone, {&shared, &own}, 100);

  ASSERT_OK_AND_ASSIGN(LfsGcReport first, Gc(1000, kDay));
  EXPECT_TRUE(first.swept.empty());
  EXPECT_EQ(first.mark.referenced_objects, 2u);
  EXPECT_EQ(first.mark.unreferenced_objects, 0u);

  ASSERT_OK(catalog_->DeleteRepo("org/gone"));
  ASSERT_OK_AND_ASSIGN(LfsGcReport marked, Gc(2000, kDay));
  EXPECT_TRUE(marked.swept.empty()) << "within the grace";
  EXPECT_EQ(marked.in_grace_objects, 1u);
  EXPECT_EQ(marked.in_grace_bytes, own.data.size());
  EXPECT_EQ(marked.mark.unreferenced_objects, 1u);
  EXPECT_TRUE(store_->Contains(own.oid));

  // One second short of the grace counted from the first mark that saw it unreferenced.
  ASSERT_OK_AND_ASSIGN(LfsGcReport early, Gc(2000 + kDay - 1, kDay));
  EXPECT_TRUE(early.swept.empty());
  EXPECT_TRUE(store_->Contains(own.oid));

  ASSERT_OK_AND_ASSIGN(LfsGcReport swept, Gc(2000 + kDay, kDay));
  EXPECT_EQ(Oids(swept), std::vector<std::string>{own.oid});
  EXPECT_EQ(swept.swept_bytes, own.data.size());
  EXPECT_FALSE(store_->Contains(own.oid));
  EXPECT_TRUE(store_->Contains(shared.oid));
  EXPECT_EQ(catalog_->GetLfsObject(own.oid).status().code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(LfsObjectRecord kept, catalog_->GetLfsObject(shared.oid));
  EXPECT_EQ(kept.state, "present");
}

TEST_F(LfsGcTest, ReferencedAgainWithinTheGraceStartsOver) {
  const Obj o = MakeObj("comes and goes");
  const int64_t repo = AddRepo("org/a");
  Store(o, 100);
  ASSERT_OK(Gc(1000, kDay).status());  // unreferenced since 1000
  Publish(repo, {&o}, 1500);
  ASSERT_OK(Gc(2000, kDay).status());  // referenced: the clock resets
  Publish(repo, {}, 2500);
  ASSERT_OK(Gc(3000, kDay).status());  // unreferenced since 3000
  ASSERT_OK_AND_ASSIGN(LfsGcReport r, Gc(1000 + kDay + 10, kDay));
  EXPECT_TRUE(r.swept.empty());
  EXPECT_TRUE(store_->Contains(o.oid));
  ASSERT_OK_AND_ASSIGN(r, Gc(3000 + kDay, kDay));
  EXPECT_EQ(Oids(r), std::vector<std::string>{o.oid});
}

TEST_F(LfsGcTest, DryRunReportsTheSameSetAndDeletesNothing) {
  const Obj a = MakeObj("a unreferenced");
  const Obj b = MakeObj("b unreferenced, bigger");
  const Obj c = MakeObj("c referenced");
  const int64_t repo = AddRepo("org/a");
  Store(a, 100);
  Store(b, 100);
  Store(c, 100);
  Publish(repo, {&c}, 100);
  ASSERT_OK_AND_ASSIGN(LfsGcReport first, Gc(2000, 10, /*dry=*/true));
  EXPECT_TRUE(first.swept.empty());
  EXPECT_EQ(first.in_grace_objects, 2u);
  ASSERT_OK_AND_ASSIGN(LfsGcReport dry, Gc(3000, 10, /*dry=*/true));
  EXPECT_EQ(dry.swept.size(), 2u);
  EXPECT_EQ(dry.swept_bytes, a.data.size() + b.data.size());
  EXPECT_TRUE(store_->Contains(a.oid));
  EXPECT_TRUE(store_->Contains(b.oid));
  ASSERT_OK(catalog_->GetLfsObject(a.oid).status());
  ASSERT_OK_AND_ASSIGN(LfsGcReport real, Gc(3000, 10));
  EXPECT_EQ(Oids(real), Oids(dry));
  EXPECT_EQ(real.swept_bytes, dry.swept_bytes);
  EXPECT_FALSE(store_->Contains(a.oid));
  EXPECT_FALSE(store_->Contains(b.oid));
  EXPECT_TRUE(store_->Contains(c.oid));
}

TEST_F(LfsGcTest, ImagesKeepTheirObjects) {
  const Obj raw = MakeObj("a raw model layer");
  const Obj wrapped = MakeObj("a file inside a generated tar layer");
  const Obj loose = MakeObj("nobody's");
  Store(raw, 100);
  Store(wrapped, 100);
  Store(loose, 100);
  TarLayerRecord layer;
  layer.spec_key = std::string(64, 'e');
  layer.digest = "sha256:" + std::string(64, 'd');
  layer.size = 4096;
  layer.spec = R"({"entries":[{"mode":420,"oid":")" + wrapped.oid +
               R"(","path":"/w","size":35,"type":"file"}],"version":1})";
  ASSERT_OK(catalog_->PutTarLayer(layer));
  ImageRecord tag;
  tag.name = "model";
  tag.tag = "main";
  tag.digest = "sha256:" + std::string(64, 'f');
  tag.media_type = "application/vnd.oci.image.manifest.v1+json";
  ASSERT_OK(
      catalog_->PutImages({tag}, {{tag.digest, "sha256:" + raw.oid}, {tag.digest, layer.digest}}));

  ASSERT_OK_AND_ASSIGN(LfsGcReport r, Gc(1000, 0));
  EXPECT_EQ(Oids(r), std::vector<std::string>{loose.oid});
  EXPECT_TRUE(store_->Contains(raw.oid));
  EXPECT_TRUE(store_->Contains(wrapped.oid));

  // The tag moves to another manifest; until the image collector forgets the old one, its
  // objects stay.
  ImageRecord moved = tag;
  moved.digest = "sha256:" + std::string(64, '9');
  ASSERT_OK(catalog_->PutImages({moved}, {{moved.digest, "sha256:" + std::string(64, '8')}}));
  ASSERT_OK_AND_ASSIGN(LfsGcReport kept, Gc(2000, 0));
  EXPECT_TRUE(kept.swept.empty());
  ASSERT_OK_AND_ASSIGN(UnlistedBlobs unlisted, catalog_->FindUnlistedBlobs());
  ASSERT_EQ(unlisted.manifests, std::vector<std::string>{tag.digest});
  ASSERT_OK(catalog_->ForgetUnlisted(unlisted));
  ASSERT_OK_AND_ASSIGN(LfsGcReport after, Gc(3000, 0));
  EXPECT_EQ(after.swept.size(), 2u);
  EXPECT_FALSE(store_->Contains(raw.oid));
  EXPECT_FALSE(store_->Contains(wrapped.oid));
}

TEST_F(LfsGcTest, PinsKeepObjectsUntilReleasedOrExpired) {
  const Obj o = MakeObj("pinned by a sync");
  Store(o, 100);
  ASSERT_OK(catalog_->PinLfsObjects("sync:1", {o.oid}, 5000));
  ASSERT_OK_AND_ASSIGN(LfsGcReport r, Gc(1000, 0));
  EXPECT_TRUE(r.swept.empty());
  EXPECT_EQ(r.mark.referenced_objects, 1u);
  // A holder that died: its pin lapses.
  ASSERT_OK_AND_ASSIGN(r, Gc(5000, 0));
  EXPECT_EQ(Oids(r), std::vector<std::string>{o.oid});
  Store(o, 6000);
  ASSERT_OK(catalog_->PinLfsObjects("sync:2", {o.oid}, 9000));
  ASSERT_OK(catalog_->UnpinLfsObjects("sync:2"));
  ASSERT_OK_AND_ASSIGN(r, Gc(7000, 0));
  EXPECT_EQ(Oids(r), std::vector<std::string>{o.oid});
}

TEST_F(LfsGcTest, PurgeSweepsOnlyTheNamedObjectsAtOnce) {
  const Obj theirs = MakeObj("the purged repo's");
  const Obj other = MakeObj("unreferenced, someone else's business");
  Store(theirs, 100);
  Store(other, 100);
  LfsGcOptions options;
  options.grace = std::chrono::seconds(0);
  options.only.emplace();
  options.only->insert(theirs.oid);
  ASSERT_OK_AND_ASSIGN(LfsGcReport r, CollectLfsGarbage(*catalog_, *store_, 1000, options));
  EXPECT_EQ(Oids(r), std::vector<std::string>{theirs.oid});
  EXPECT_TRUE(store_->Contains(other.oid));
}

TEST_F(LfsGcTest, AdoptsStoreFilesTheCatalogDoesNotKnow) {
  const Obj o = MakeObj("published, then the node crashed before recording it");
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(0, o.data));
  ASSERT_OK(p->CommitRange({0, o.data.size()}));
  ASSERT_OK(p->Publish());
  ASSERT_OK_AND_ASSIGN(LfsGcReport r, Gc(1000, kDay));
  EXPECT_EQ(r.adopted, 1u);
  EXPECT_TRUE(r.swept.empty()) << "the grace starts when it is first seen";
  ASSERT_OK_AND_ASSIGN(LfsObjectRecord rec, catalog_->GetLfsObject(o.oid));
  EXPECT_EQ(rec.state, "present");
  ASSERT_OK_AND_ASSIGN(r, Gc(1000 + kDay, kDay));
  EXPECT_EQ(Oids(r), std::vector<std::string>{o.oid});
}

// A sync publishing a reference to an object the collection is about to sweep, in every
// order the two can interleave. The sync's steps (as daemon/lfs_sync.cc takes them): 1. pin
// the objects its refs need and record them, 2. look in the store and fetch what is
// missing, 3. publish the references and unpin. The collection's points where another
// thread can come in: before it starts, after the mark, before the sweep of the object,
// after it ends (a sync step cannot run inside the sweep: it waits for the catalog's lock,
// which is the same as running after it). Whatever the order, the published reference
// names an object that is in the store.
TEST_F(LfsGcTest, ASyncRacingTheSweepLosesNothing) {
  const Obj o = MakeObj("an object a new ref needs again");
  int combos = 0;
  for (int s1 = 0; s1 < 4; ++s1) {
    for (int s2 = s1; s2 < 4; ++s2) {
      for (int s3 = s2; s3 < 4; ++s3) {
        SCOPED_TRACE("sync steps at collection points " + std::to_string(s1) + "," +
                     std::to_string(s2) + "," + std::to_string(s3));
        ++combos;
        const std::string name = "org/r" + std::to_string(combos);
        const int64_t repo = AddRepo(name);
        Store(o, 100);
        // Unreferenced long ago: a candidate of this collection.
        ASSERT_OK(Gc(200, 0, /*dry=*/true).status());
        const std::string holder = "sync:" + name;
        bool fetched = false;
        auto step = [&](int n) {
          if (n == 1) {
            ASSERT_OK(catalog_->PinLfsObjects(holder, {o.oid}, 1'000'000));
            LfsObjectRecord r;
            r.oid = o.oid;
            r.size = o.data.size();
            ASSERT_OK(catalog_->AddLfsObjects({r}, 300));
          } else if (n == 2) {
            if (!store_->Contains(o.oid)) {
              fetched = true;
              Store(o, 300);
            }
          } else {
            Publish(repo, {&o}, 300);
            ASSERT_OK(catalog_->UnpinLfsObjects(holder));
          }
        };
        const int at[3] = {s1, s2, s3};
        int next = 0;
        auto run_until = [&](int point) {
          while (next < 3 && at[next] == point) step(++next);
        };
        LfsGcOptions options;
        options.grace = std::chrono::seconds(0);
        options.after_mark = [&] { run_until(1); };
        options.before_sweep = [&](const LfsGcCandidate&) { run_until(2); };
        run_until(0);
        ASSERT_OK_AND_ASSIGN(LfsGcReport r, CollectLfsGarbage(*catalog_, *store_, 300, options));
        run_until(2);  // no candidate: the before-sweep point never came
        run_until(3);
        ASSERT_EQ(next, 3);
        ASSERT_OK_AND_ASSIGN(std::optional<LfsRefRecord> ref, catalog_->FindLfsRef(repo, o.oid));
        ASSERT_TRUE(ref.has_value());
        EXPECT_TRUE(store_->Contains(o.oid)) << "published a reference to a swept object";
        ASSERT_OK_AND_ASSIGN(LfsObjectRecord rec, catalog_->GetLfsObject(o.oid));
        EXPECT_EQ(rec.state, "present");
        // The sweep either kept it (pinned or referenced first) or the sync fetched it again.
        EXPECT_TRUE(r.swept.empty() || fetched);
        ASSERT_OK(catalog_->DeleteRepo(name));
      }
    }
  }
  EXPECT_EQ(combos, 20);
}

}  // namespace
}  // namespace mirrord
