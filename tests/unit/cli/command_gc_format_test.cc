// The human output of `mirrorctl gc` and `mirrorctl verify` from the admin API's answers
// (daemon/gc_api.h, daemon/verify_api.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/commands.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

boost::json::value Parse(std::string_view text) { return boost::json::parse(text); }

TEST(GcFormat, NamesEachObjectAndTheBytes) {
  const std::string oid(64, 'a');
  const boost::json::value answer = Parse(R"({"dry_run": true, "grace_seconds": 604800,
      "reclaimed_bytes": 3146240,
      "lfs": {"swept_objects": 1, "swept_bytes": 3145728, "objects_truncated": false,
              "objects": [{"oid": ")" + oid +
                                          R"(", "size": 3145728, "unreferenced_since": 0}],
              "referenced_objects": 4, "referenced_bytes": 1024, "in_grace_objects": 2,
              "in_grace_bytes": 2048, "kept_on_recheck": 0},
      "git": {"objects": 3, "bytes": 512, "repos": [{"name": "org/a", "objects": 3, "bytes": 512},
              {"name": "org/b", "objects": 0, "bytes": 0, "skipped": "syncing"}]}})");
  const std::string text = FormatGcOutcome(answer);
  EXPECT_THAT(text, HasSubstr("would remove 1 LFS objects (3.0 MiB)\n"));
  EXPECT_THAT(text, HasSubstr("  " + oid + "  3.0 MiB  unreferenced since never\n"));
  EXPECT_THAT(text, HasSubstr("would prune 3 unreachable git objects (512 B) in 2 mirrors\n"));
  EXPECT_THAT(text, HasSubstr("  org/b: skipped (syncing)\n"));
  EXPECT_THAT(text, HasSubstr("kept 4 referenced LFS objects (1.0 KiB) and 2 unreferenced ones "
                              "within the grace of 604800s (2.0 KiB)\n"));
}

TEST(GcFormat, APurgeSaysWhatWasRemoved) {
  const std::string text = FormatGcOutcome(Parse(R"({"dry_run": false, "purged": "org/gone",
      "lfs": {"swept_objects": 0, "swept_bytes": 0, "objects": []}})"));
  EXPECT_THAT(text, HasSubstr("removed org/gone\nremoved 0 LFS objects (0 B)\n"));
  EXPECT_THAT(text, Not(HasSubstr("kept ")));
}

TEST(VerifyFormat, MirrorsAndCorruptObjects) {
  const std::string text = FormatVerifyOutcome(Parse(R"({
      "mirrors": [{"name": "org/a", "ok": true}, {"name": "org/b", "ok": false,
                   "error": "missing blob 1234"}],
      "objects_checked": 3, "bytes_checked": 2097152, "objects_absent": 1,
      "corrupt": [{"oid": "ab", "size": 10, "repo": "org/a", "outcome": "refetched"},
                  {"oid": "cd", "size": 20, "repo": "org/a", "outcome": "lost",
                   "error": "gone upstream"}]})"));
  EXPECT_THAT(text, HasSubstr("mirror org/a: git fsck ok\n"));
  EXPECT_THAT(text, HasSubstr("mirror org/b: DAMAGED: missing blob 1234\n"));
  EXPECT_THAT(text, HasSubstr("LFS: 3 objects (2.0 MiB) re-hashed, 2 corrupt, 1 referenced but "
                              "not in the store\n"));
  EXPECT_THAT(text, HasSubstr("  ab  10 B  refetched (org/a)\n"));
  EXPECT_THAT(text, HasSubstr("  cd  20 B  lost (org/a): gone upstream\n"));
}

}  // namespace
}  // namespace mirrord
