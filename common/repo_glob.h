// Repository globs: which repositories a read token grants, matched against canonical
// repository names (common/repo_name.h), e.g. "hf/THUDM/*" or "org/**".
//
//   *    any run of characters within one segment (never '/'): "org/*" matches "org/a",
//        not "org/a/b"; "org/glm-*" matches "org/glm-4"
//   **   a whole segment only: zero or more segments: "org/**" matches "org/a",
//        "org/a/b" (and a repository called "org"); "a/**/b" matches "a/b" and "a/x/y/b";
//        "**" alone matches every repository
//   anything else matches itself, case-sensitively (names are case-sensitive on disk)
//
// Globs are at most kMaxRepoNameLength characters of the repo name alphabet plus '*', in
// '/'-separated non-empty segments, with at most 2 * kMaxRepoNameSegments segments; a
// trailing ".git" is not special. Matching takes O(glob x name) time, whatever the input.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "common/status.h"

namespace mirrord {

// OK, or InvalidArgument saying why `glob` is not a repository glob.
Status ValidateRepoGlob(std::string_view glob);

// Whether `name` matches `glob` (which ValidateRepoGlob accepted; an invalid glob matches
// nothing).
bool RepoGlobMatches(std::string_view glob, std::string_view name);

}  // namespace mirrord
