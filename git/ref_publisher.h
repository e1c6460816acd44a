// Atomic publication of a mirror's ref set: clients see the old set or the new one, never
// a mix.
//
// Mechanism: every published ref (all refs outside refs/mirrord/) lives only in packed-refs.
// A publication writes the complete new set as packed-refs.lock (created O_EXCL: git's own
// lock protocol, so git and libgit2 writers exclude us and we them), fdatasyncs it, renames
// it onto packed-refs and fsyncs the directory. Readers (git upload-pack) open either the
// old file or the new one. Loose refs outside refs/mirrord/ would override packed entries,
// so any found (a crash, an outside tool) are removed first. HEAD is replaced the same way.
// Objects staged by a fetch (mirror_staging.h) move into the mirror while packed-refs.lock is
// held, just before the rename: a crash in between is rolled back by crash recovery.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

struct PublishedRef {
  std::string name;    // full name, e.g. "refs/heads/main", "refs/tags/v1.0"
  std::string oid;     // 40 lowercase hex digits
  std::string peeled;  // annotated tags: the fully peeled (non-tag) object; else empty

  friend bool operator==(const PublishedRef&, const PublishedRef&) = default;
};

// What a publication changed, compared with the previously published set.
struct RefUpdateSummary {
  int added = 0;
  int updated = 0;  // same name, different oid
  int deleted = 0;
};

// Replaces the published ref set of the bare mirror at `dir` with exactly `refs`, and points
// HEAD at `head` ("refs/heads/main"; empty keeps the current HEAD). Entries under
// refs/mirrord/ in packed-refs are kept. The refs' objects may be in the mirror or staged. On
// success the new set is durable and served, every staged object has moved into the mirror
// (StagedObjectMigration), and the summary counts the changes. On failure the previously
// published set is untouched and staged objects stay staged (unservable):
// InvalidArgument for a malformed name or oid, a duplicate, a name under refs/mirrord/ or a
// `head` not among `refs`; FailedPrecondition when an object a ref needs (its target, the
// peeled object of a tag, a commit's tree) is not in the object database, or a given
// `peeled` disagrees with the database; Unavailable when packed-refs.lock or HEAD.lock is
// held (another writer, or a crash left it: see MirrorRepository::RecoverAfterCrash).
// `fence`, when given, is the publisher's lease check (daemon/job_runner.h): it is called with
// packed-refs.lock held, after the staged objects moved and right before the rename, so no
// other publication of this mirror can run between the check and the rename. A non-OK
// result aborts the publication as above (staged objects move back, nothing published)
// and is returned as it is.
// Thread-safety: at most one publisher per mirror at a time (the lock file enforces it
// across processes too); readers may run concurrently.
Result<RefUpdateSummary> PublishRefs(const std::filesystem::path& dir,
                                     const std::vector<PublishedRef>& refs, std::string_view head,
                                     const std::function<Status()>& fence = {});

// The currently published refs of `dir`, sorted by name: packed-refs entries outside
// refs/mirrord/, overridden by any loose refs there (as git resolves them). Reads packed-refs
// once, so it returns one consistent published set even during a publication.
// DataLoss for a malformed packed-refs; NotFound when `dir` has no refs directory.
Result<std::vector<PublishedRef>> ReadPublishedRefs(const std::filesystem::path& dir);

// The ref HEAD points at ("refs/heads/main"); empty when HEAD is detached.
Result<std::string> ReadHeadTarget(const std::filesystem::path& dir);

}  // namespace mirrord
