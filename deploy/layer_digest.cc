#include "deploy/layer_digest.h"

#include "common/sha256.h"

namespace mirrord {

Result<LayerDigest> HashTarLayer(const TarLayer& layer, const BlobStore& store) {
  Sha256 hash;
  RETURN_IF_ERROR(ReadTarLayer(layer, store, 0, layer.size(), [&](std::string_view data) {
    hash.Update(data);
    return Status::Ok();
  }));
  return LayerDigest{"sha256:" + hash.FinishHex(), layer.size(), false};
}

Result<LayerDigest> CachedTarLayerDigest(const TarLayer& layer, const BlobStore& store,
                                         Catalog& catalog, int64_t now) {
  if (!layer.generated()) {
    return InvalidArgument("only layers generated from stored objects have a cached digest");
  }
  ASSIGN_OR_RETURN(std::optional<TarLayerRecord> known, catalog.GetTarLayer(layer.spec_key()));
  if (known && known->size == layer.size()) return LayerDigest{known->digest, known->size, true};
  ASSIGN_OR_RETURN(LayerDigest computed, HashTarLayer(layer, store));
  RETURN_IF_ERROR(catalog.PutTarLayer(
      {layer.spec_key(), computed.digest, computed.size, layer.spec(), now}));
  return computed;
}

}  // namespace mirrord
