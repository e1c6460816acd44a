// Retention of built images: after each successful build the newest `keep` images (one per
// commit, counted by when they were last built) of the recipe's ref stay listed; the older
// ones are unlisted (every image and model tag of them removed), then what only they used
// is collected: their manifests (OCI and Docker), configs, inline layers and preflight
// manifests in the OciStore, base layers no kept image uses, and the tar_layers digest-cache
// rows of their generated layers. Never an LFS object (those live in the BlobStore, which
// this never touches) nor anything a listed manifest references.
//
// Crash safety: unlisting is one catalog transaction; collection removes the blob files
// first and then, in one transaction, the manifest_blobs rows that named them. A crash at
// any point leaves either listed images untouched or rows that make the next collection
// (CollectUnlistedImages, also run at startup) finish the job.
//
// Concurrency: collection holds OciStore::collection_mutex() exclusively and BuildImage
// holds it shared, so a blob a build is about to publish is never removed under it. This
// holds for builds of one process; nodes sharing one storage root are not coordinated.
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/build_config.h"
#include "common/status.h"
#include "deploy/oci_store.h"
#include "storage/catalog.h"

namespace mirrord {

struct CollectOutcome {
  size_t manifests = 0;      // unlisted manifests forgotten
  size_t blobs_removed = 0;  // OciStore files removed
};

struct RetentionOutcome {
  std::vector<std::string> dropped_commits;  // commits whose images were unlisted
  size_t tags_removed = 0;
  CollectOutcome collected;
};

// Unlists what exceeds recipe.keep for `ref` (full ref name), then collects. On failure of
// the collection the unlisting stands (the next collection removes the rest).
Result<RetentionOutcome> ApplyRetention(const BuildRecipe& recipe, std::string_view ref,
                                        Catalog& catalog, OciStore& oci);

// Removes whatever unlisted manifests left behind (see the file comment).
Result<CollectOutcome> CollectUnlistedImages(Catalog& catalog, OciStore& oci);

}  // namespace mirrord
