#include "deploy/image_blob_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <utility>

namespace mirrord {

Result<std::optional<ImageBlobSource>> LocateImageBlob(Catalog& catalog, const BlobStore& lfs,
                                                       const OciStore& oci, std::string_view name,
                                                       std::string_view digest) {
  ASSIGN_OR_RETURN(bool allowed, catalog.NameReferencesBlob(name, digest));
  if (!allowed || digest.size() <= 7) return std::optional<ImageBlobSource>();
  ImageBlobSource source;
  Result<UniqueFd> fd = oci.OpenBlob(digest);
  if (!fd.ok() && fd.status().code() == StatusCode::kNotFound) {
    fd = lfs.OpenObject(digest.substr(7));
  }
  if (fd.ok()) {
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return ErrnoStatus(errno, "stat blob " + std::string(digest));
    source.size = static_cast<uint64_t>(st.st_size);
    source.fd = std::move(*fd);
    return std::optional<ImageBlobSource>(std::move(source));
  }
  if (fd.status().code() != StatusCode::kNotFound) return fd.status();
  ASSIGN_OR_RETURN(std::optional<TarLayerRecord> rec, catalog.FindTarLayerByDigest(digest));
  if (!rec) return std::optional<ImageBlobSource>();
  ASSIGN_OR_RETURN(TarLayer layer, TarLayer::FromSpec(rec->spec));
  source.size = layer.size();
  source.layer = std::move(layer);
  return std::optional<ImageBlobSource>(std::move(source));
}

Status ReadImageBlob(const ImageBlobSource& source, const BlobStore& lfs, uint64_t begin,
                     uint64_t end, const std::function<Status(std::string_view)>& sink) {
  if (begin > end || end > source.size) {
    return InvalidArgument("range outside the blob of " + std::to_string(source.size) + " bytes");
  }
  if (source.layer) return ReadTarLayer(*source.layer, lfs, begin, end, sink);
  return ReadFileRange(source.fd.get(), begin, end - begin, sink, "stored blob");
}

}  // namespace mirrord
