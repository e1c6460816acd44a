// The build stage's entry point: one recipe + one mirrored revision -> a runnable OCI image
// and a CNCF ModelPack model artifact, both recorded in the catalog and served by the
// registry front end. Nothing of the weights is copied:
//
//  - Image layers, in order: the base's layers as pulled (none for "scratch"), one layer of
//    the recipe's extra files ([[builds.files]], streamed from the files into the OciStore:
//    memory does not grow with their size), with preflight on
//    the preflight bundle (the same bytes in every image) and its manifest
//    (deploy/preflight_layers.h), one of the model's small (non-LFS) files (stored in the
//    OciStore), then one uncompressed tar layer per
//    LFS file in path order, generated from the LFS store on demand (deploy/tar_layer.h;
//    only its digest is computed, and cached per spec). Every layer carries the directory
//    entries above its files (mode 0755), so each one extracts on its own.
//  - Layer cap: images may have at most kMaxImageLayers layers (Docker's limit on layer
//    depth). When the weights would exceed what is left after the base and the two inline
//    layers, consecutive weight files (in path order) are merged into that many layers,
//    as evenly as possible by count; a changed shard then rehashes only its group.
//  - Model artifact: layers are the raw files; an LFS file's layer digest IS its oid
//    (nothing hashed), the small files are stored in the OciStore. Media types: weights
//    application/vnd.cncf.model.weight.v1.raw, small files by extension (docs *.md *.txt
//    LICENSE*, code *.py *.sh, else weight.config); each layer has org.cncf.model.filepath.
//
// Tags: the recipe's templates with {ref} = the short ref name (refs/heads/ and refs/tags/
// removed; characters outside the tag grammar become '-', cut to 128 bytes) and {commit} =
// the full commit id; the model artifact gets each tag with "-model" appended (cut so the
// whole is at most 128 bytes).
//
// With a base, the image's config starts from the base's (architecture, os, Env, Entrypoint,
// Cmd, WorkingDir, User, Labels, ExposedPorts, diff_ids): the recipe's entrypoint replaces
// the base's entrypoint and cmd, its cmd the base's cmd, its env, labels and ports are laid
// over the base's, NVIDIA_REQUIRE_CUDA of the base stays unless require_cuda is set. With
// preflight on, the entrypoint is the preflight's followed by "--" and that entrypoint.
// Determinism: the manifest, config and generated layers depend only on the recipe, the
// commit, the ref, the upstream URL and the bytes of the objects, never on the machine, the
// time of the build or the store's paths.
// Thread-safety: BuildImage may run concurrently for different recipes; the stores and the
// catalog are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/build_config.h"
#include "common/status.h"
#include "deploy/base_image.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

inline constexpr size_t kMaxImageLayers = 125;

// Where a build is, for live progress: phase "model" (reading the revision and checking its
// LFS objects), "layers" (generating and hashing layers; the counts grow), "manifests",
// "publishing".
struct BuildProgress {
  std::string phase;
  size_t layers_total = 0;   // generated weight layers this image has
  size_t layers_done = 0;    // of which are digested (cached or hashed now)
  uint64_t bytes_total = 0;  // their bytes
  uint64_t bytes_done = 0;
  size_t hashed_layers = 0;  // layers hashed by this build so far (the others were cached)
};

struct BuildInputs {
  std::string repo;                  // the mirrored repo's name
  std::filesystem::path mirror_dir;  // its bare mirror
  std::string upstream_url;          // org.opencontainers.image.source
  std::string ref;                   // full ref name, e.g. "refs/heads/main"
  std::string commit;                // "" -> what `ref` names now
  // The pulled base (deploy/base_image.h) when the recipe's base is not "scratch".
  const PulledBase* base = nullptr;
  // The preflight bundle (deploy/preflight_layers.h) for recipes with preflight on; empty:
  // images get no preflight (the daemon always passes its own).
  std::filesystem::path preflight_bundle;
  // Optional: told the build's progress, from the building thread.
  std::function<void(const BuildProgress&)> on_progress;
  // Optional: set when the build must stop (checked between layers): Cancelled, nothing
  // published.
  const std::atomic<bool>* cancel = nullptr;
  // Optional: the fence, called right before the tags are published; its failure is the
  // build's, with nothing published.
  std::function<Status()> before_publish;
};

struct BuildStores {
  const BlobStore& lfs;
  OciStore& oci;
  Catalog& catalog;
};

struct BuiltManifest {
  std::string digest;  // "sha256:<hex>" of the manifest
  uint64_t size = 0;   // manifest + config + layers
  std::vector<std::string> tags;
  // The Docker schema 2 twin (images whose layers all have Docker media types); "" else.
  std::string docker_digest;
};

struct BuildOutcome {
  std::string commit;
  int64_t commit_time = 0;
  BuiltManifest image;
  BuiltManifest model;
  size_t layers = 0;            // image layers
  size_t weight_files = 0;      // LFS files in the image
  size_t hashed_layers = 0;     // generated layers hashed by this build (others were cached)
  bool merged_weights = false;  // the layer cap merged weight files
  // Commits of the ref whose images retention unlisted after this build (recipe.keep).
  std::vector<std::string> dropped_commits;
};

// Builds and publishes, then applies retention (deploy/image_retention.h: the newest
// recipe.keep images of inputs.ref stay; a failing retention is logged, not returned).
// On success the image and model tags are in the catalog (all of them
// in one transaction) and every blob they name can be served. An image also gets a Docker
// schema 2 twin manifest (its docker_digest) when all its layers have Docker media types. On
// failure nothing is published (blobs already written stay, unreferenced): InvalidArgument for a
// recipe the build cannot use (a base other than scratch without inputs.base, a bad tag template, a
// file dest that is not absolute), Unavailable when a base blob was collected after the pull (pull
// again and retry), NotFound for an unknown ref/commit or a missing extra file, InvalidArgument
// for an extra file that is not a regular file, DataLoss when an extra file's SHA-256 is not the
// pinned one (checked on the bytes streamed into the layer; the partial blob is removed),
// FailedPrecondition when an LFS object the revision needs is not in the store (the build waits for
// the sync), or the error of the store, git or the catalog.
Result<BuildOutcome> BuildImage(const BuildRecipe& recipe, const BuildInputs& inputs,
                                BuildStores stores, int64_t now);

// The short name of a ref for tags and annotations: "refs/heads/main" -> "main".
std::string ShortRefName(std::string_view ref);
// A template's tag for (ref, commit), sanitised to the tag grammar.
std::string ExpandTagTemplate(std::string_view tmpl, std::string_view ref, std::string_view commit);

}  // namespace mirrord
