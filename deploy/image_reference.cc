#include "deploy/image_reference.h"

#include "common/build_config.h"
#include "deploy/oci_store.h"

namespace mirrord {

std::string ImageReference::ToString() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<ImageReference> ParseImageReference(std::string_view text) {
  auto bad = [&](std::string why) {
    return InvalidArgument("image reference \"" + std::string(text) + "\": " + why);
  };
  ImageReference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    if (!IsValidSha256Digest(ref.digest)) return bad("digest is not sha256:<64 hex>");
    rest = rest.substr(0, at);
  }
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view host = rest.substr(0, slash);
    if (host.find('.') != std::string_view::npos || host.find(':') != std::string_view::npos ||
        host == "localhost") {
      ref.registry = std::string(host);
      rest = rest.substr(slash + 1);
    }
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    if (!IsValidImageTag(ref.tag)) return bad("invalid tag");
    rest = rest.substr(0, colon);
  }
  if (ref.tag.empty() && ref.digest.empty()) return bad("needs a :tag or @sha256:digest");
  ref.repository = std::string(rest);
  if (ref.registry.empty()) {
    ref.registry = "docker.io";
    if (ref.repository.find('/') == std::string::npos) ref.repository = "library/" + ref.repository;
  }
  if (!IsValidImageName(ref.repository)) return bad("invalid repository name");
  return ref;
}

}  // namespace mirrord
