// The digest of a generated tar layer, computed in one streaming pass over its headers and
// stored objects and cached in the catalog's tar_layers table per spec (the oids and the
// canonical headers around them). A rebuild after one shard changed therefore hashes only
// that shard's layer; every other layer's digest is one catalog lookup.
//
// Why the catalog: it is already the durable record of what the store holds, the registry
// front end needs the spec by digest to serve the layer again (one table answers both), and
// SQLite gives the all-or-nothing writes a kill -9 needs. A lost or deleted row only costs
// one hashing pass: the spec regenerates the same bytes.
// Thread-safety: the functions are thread-safe (Catalog and BlobStore are).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "deploy/tar_layer.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

struct LayerDigest {
  std::string digest;  // "sha256:<hex>"
  uint64_t size = 0;
  bool cached = false;  // true: taken from the catalog, nothing hashed
};

// The SHA-256 of the whole layer, hashed in one pass in bounded memory.
// Errors as ReadTarLayer.
Result<LayerDigest> HashTarLayer(const TarLayer& layer, const BlobStore& store);

// The digest of a generated layer (layer.generated()), from the catalog when its spec is
// known, else hashed and then recorded (with `now` as created_at). InvalidArgument for a
// layer with inline content (it has no spec to key a cache); errors of the catalog or of
// HashTarLayer otherwise (nothing recorded then).
Result<LayerDigest> CachedTarLayerDigest(const TarLayer& layer, const BlobStore& store,
                                         Catalog& catalog, int64_t now);

}  // namespace mirrord
