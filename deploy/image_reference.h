// An image reference as a recipe's `base` names it: REGISTRY/NAME:TAG or
// REGISTRY/NAME@sha256:HEX (a tag with a digest pins the digest).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

struct ImageReference {
  std::string registry;    // "host[:port]"; "docker.io" when the reference names none
  std::string repository;  // "library/ubuntu", "cuda/runtime"
  std::string tag;         // "" when only a digest is given
  std::string digest;      // "sha256:<hex>" or ""

  // What to ask the registry for: the digest when pinned, else the tag.
  const std::string& reference() const { return digest.empty() ? tag : digest; }
  std::string ToString() const;
};

// InvalidArgument for "scratch" or anything that is not a reference with a tag or digest.
// A first component with '.' or ':' or "localhost" is the registry; otherwise docker.io
// (with "library/" for one-component names).
Result<ImageReference> ParseImageReference(std::string_view text);

}  // namespace mirrord
