#include "deploy/image_retention.h"

#include <mutex>
#include <set>

#include "common/log.h"

namespace mirrord {

Result<CollectOutcome> CollectUnlistedImages(Catalog& catalog, OciStore& oci) {
  std::unique_lock lock(oci.collection_mutex());
  ASSIGN_OR_RETURN(UnlistedBlobs unlisted, catalog.FindUnlistedBlobs());
  CollectOutcome out;
  if (unlisted.manifests.empty()) return out;
  for (const std::string& digest : unlisted.blobs) {
    if (!IsValidSha256Digest(digest)) continue;
    if (!oci.Contains(digest)) continue;  // an LFS object (raw model layer) or a generated layer
    RETURN_IF_ERROR(oci.Remove(digest).WithContext("collect unlisted images"));
    ++out.blobs_removed;
  }
  RETURN_IF_ERROR(catalog.ForgetUnlisted(unlisted));
  out.manifests = unlisted.manifests.size();
  return out;
}

Result<RetentionOutcome> ApplyRetention(const BuildRecipe& recipe, std::string_view ref,
                                        Catalog& catalog, OciStore& oci) {
  RetentionOutcome out;
  ASSIGN_OR_RETURN(std::vector<ImageRecord> dropped,
                   catalog.UnlistOldImages(recipe.name, ref, static_cast<size_t>(recipe.keep)));
  std::set<std::string> commits;
  for (const ImageRecord& r : dropped) commits.insert(r.commit);
  out.dropped_commits.assign(commits.begin(), commits.end());
  out.tags_removed = dropped.size();
  if (!dropped.empty()) {
    MLOG(Info) << "retention of " << recipe.name << " " << ref << " (keep " << recipe.keep
               << "): unlisted " << dropped.size() << " tag(s) of " << commits.size()
               << " commit(s)";
  }
  ASSIGN_OR_RETURN(out.collected, CollectUnlistedImages(catalog, oci));
  return out;
}

}  // namespace mirrord
