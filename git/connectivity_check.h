// CheckConnectivity: proves that everything reachable from the refs about to be published
// is in the mirror's object database or its staging area (mirror_staging.h), before any
// client can be offered them.
#pragma once

#include <filesystem>
#include <vector>

#include "common/status.h"
#include "git/ref_publisher.h"

namespace mirrord {

// Walks every object reachable from `new_refs` but not from `published_refs` (the set
// clients see now, verified when it was published) with git's own `rev-list --objects`.
// On success all of them exist. On failure: DataLoss naming the first missing object when
// history is incomplete (a broken or malicious upstream, or a truncated pack); other
// failures as RunGitCommand. Cost is proportional to what is new, as in `git fetch`.
Status CheckConnectivity(const std::filesystem::path& dir,
                         const std::vector<PublishedRef>& new_refs,
                         const std::vector<PublishedRef>& published_refs);

}  // namespace mirrord
