// The URL shapes of the Hugging Face–compatible endpoint, parsed from the RAW request target
// (before percent-decoding) so that a revision with '/' sent encoded ("refs%2Fpr%2F1", as
// huggingface_hub and @huggingface/hub send it) stays one revision:
//
//   /{repo}/resolve/{rev}/{path}             models
//   /datasets/{repo}/resolve/{rev}/{path}    datasets
//   /api/{models|datasets}/{repo}[/revision/{rev}]
//   /api/{models|datasets}/{repo}/tree/{rev}[/{path}]
//   /api/{models|datasets}/{repo}/paths-info/{rev}
//   /api/{models|datasets}/{repo}/refs
//
// {repo} is a Hub id ("gpt2", "org/model") or a mirror name; it ends before the first
// segment that is a keyword above. An unencoded revision "refs/<kind>/<name>" is read as one
// revision too (listFiles sends it that way). Paths are checked with IsValidTreePath after
// decoding: "..", "%2e%2e", absolute paths, NUL or backslashes are InvalidArgument.
// Thread-safety: free functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

enum class HfRepoType { kModel, kDataset };

struct HfResolveTarget {
  HfRepoType type = HfRepoType::kModel;
  std::string repo_id;   // decoded
  std::string revision;  // decoded
  std::string path;      // decoded, valid per IsValidTreePath
};

// Whether the router should hand this (decoded) path to the resolve handler: a "/resolve/"
// segment after at least one repository segment, and nothing git smart HTTP or LFS owns.
bool IsHfResolvePath(std::string_view decoded_path);

// InvalidArgument (the reason) for a target that is not a well-formed resolve URL.
Result<HfResolveTarget> ParseHfResolveTarget(std::string_view raw_target);

struct HfApiTarget {
  enum class Kind { kInfo, kTree, kPathsInfo, kRefs };
  HfRepoType type = HfRepoType::kModel;
  Kind kind = Kind::kInfo;
  std::string repo_id;
  std::string revision;  // "HEAD" for an info request without one; "" for kRefs
  std::string path;      // kTree only; "" is the root
};

// For targets below /api/models/ and /api/datasets/. InvalidArgument for anything else.
Result<HfApiTarget> ParseHfApiTarget(std::string_view raw_target);

// Strict percent-decoding: InvalidArgument for a malformed escape.
Result<std::string> HfPercentDecode(std::string_view text);

// The text percent-encoded for one path segment or query value (unreserved characters kept).
std::string HfPercentEncode(std::string_view text, bool keep_slash);

}  // namespace mirrord
