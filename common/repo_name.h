// The local name of a mirrored repository, e.g. "THUDM/GLM-4-Vision" or
// "hf/THUDM/chatglm3-6b". The name is the clone URL path (http://host/<name>.git) and the
// store path (<root>/repos/<name>.git), so it is validated before it touches either.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

inline constexpr size_t kMaxRepoNameSegment = 100;
inline constexpr size_t kMaxRepoNameLength = 255;
inline constexpr size_t kMaxRepoNameSegments = 8;

// Returns the canonical name (a trailing ".git" removed) or InvalidArgument saying why:
// empty, absolute, "." or ".." segments, empty segments ("a//b"), characters outside
// [A-Za-z0-9._-] (control characters, spaces, ':' and '\\' among them), a segment starting
// with '.' or '-', a segment ending in ".lock" or (after the one optional suffix) ".git", a segment
// over kMaxRepoNameSegment bytes, more than kMaxRepoNameSegments segments, or a first segment
// reserved for mirrord's own URLs (api, healthz, readyz, metrics, webhooks, v2, datasets).
Result<std::string> ValidateRepoName(std::string_view name);

}  // namespace mirrord
