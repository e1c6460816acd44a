// OpenHfRevision: the one path from a Hugging Face (repo id, revision) pair to a readable,
// published commit, with the Hub's error answers for each way it can fail (RepoNotFound,
// RevisionNotFound, 500 for a mirror that cannot be read).
// Blocking (catalog and libgit2): call it on the blocking pool.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "daemon/hf_error.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_repo_locator.h"
#include "git/tree_reader.h"

namespace mirrord {

struct HfRevisionView {
  HfRepo repo;
  PooledTreeReader reader;  // on loan from the locator's pool until the view is destroyed
  ResolvedCommit commit;
  // The revision was a full commit id: answers about it never change (immutable caching).
  bool pinned = false;
};

std::variant<HfRevisionView, HfFailure> OpenHfRevision(HfRepoLocator& locator, HfRepoType type,
                                                       std::string_view repo_id,
                                                       std::string_view revision);

// The Hub's form of a time: "2024-05-01T12:34:56.000Z".
std::string HfTimestamp(int64_t unix_seconds);

}  // namespace mirrord
