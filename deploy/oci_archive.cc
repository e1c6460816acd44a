#include "deploy/oci_archive.h"

#include <boost/json.hpp>
#include <set>
#include <utility>

#include "common/build_config.h"
#include "common/sha256.h"
#include "deploy/oci_json.h"
#include "deploy/oci_store.h"
#include "deploy/tar_header.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";
constexpr char kContainerdNameAnnotation[] = "io.containerd.image.name";

Result<OciArchiveBlob> ReadDescriptor(const json::value& v, std::string_view what) {
  const json::object* o = v.if_object();
  const json::value* digest = o != nullptr ? o->if_contains("digest") : nullptr;
  const json::value* size = o != nullptr ? o->if_contains("size") : nullptr;
  if (digest == nullptr || !digest->is_string() || !IsValidSha256Digest(digest->as_string())) {
    return InvalidArgument(std::string(what) + " has no valid sha256 digest");
  }
  OciArchiveBlob blob;
  blob.digest = std::string(digest->as_string());
  if (size != nullptr && size->is_uint64()) {
    blob.size = size->as_uint64();
  } else if (size != nullptr && size->is_int64() && size->as_int64() >= 0) {
    blob.size = static_cast<uint64_t>(size->as_int64());
  } else {
    return InvalidArgument(std::string(what) + " " + blob.digest + " has no valid size");
  }
  return blob;
}

std::string BlobPath(std::string_view digest) {
  return "blobs/sha256/" + std::string(digest.substr(7));
}

// Appends parts to an archive under construction.
class Layout {
 public:
  Status File(std::string path, std::string content) {
    RETURN_IF_ERROR(Header(TarEntryType::kFile, path, 0644, content.size()));
    const uint64_t size = content.size();
    Memory(std::move(content));
    Memory(std::string(TarPaddingSize(size), '\0'));
    return Status::Ok();
  }
  Status Directory(std::string path) { return Header(TarEntryType::kDirectory, path, 0755, 0); }
  Status Blob(OciArchiveBlob blob) {
    RETURN_IF_ERROR(Header(TarEntryType::kFile, BlobPath(blob.digest), 0644, blob.size));
    OciArchivePart part;
    part.is_blob = true;
    part.blob = archive_.blobs.size();
    part.length = blob.size;
    archive_.size += blob.size;
    archive_.parts.push_back(std::move(part));
    Memory(std::string(TarPaddingSize(blob.size), '\0'));
    archive_.blobs.push_back(std::move(blob));
    return Status::Ok();
  }
  OciArchive Finish() && {
    Memory(std::string(kTarEndOfArchiveSize, '\0'));
    return std::move(archive_);
  }

 private:
  Status Header(TarEntryType type, const std::string& path, uint32_t mode, uint64_t size) {
    TarEntry e;
    e.type = type;
    e.path = path;
    e.mode = mode;
    e.size = size;
    ASSIGN_OR_RETURN(std::string header, TarHeader(e));
    Memory(std::move(header));
    return Status::Ok();
  }
  // Adjacent memory parts are merged: fewer, larger writes.
  void Memory(std::string bytes) {
    if (bytes.empty()) return;
    archive_.size += bytes.size();
    if (!archive_.parts.empty() && !archive_.parts.back().is_blob) {
      archive_.parts.back().bytes += bytes;
      archive_.parts.back().length += bytes.size();
      return;
    }
    OciArchivePart part;
    part.length = bytes.size();
    part.bytes = std::move(bytes);
    archive_.parts.push_back(std::move(part));
  }

  OciArchive archive_;
};

}  // namespace

Result<OciArchive> PlanOciArchive(const OciArchiveImage& image) {
  if (!IsValidImageName(image.name)) return InvalidArgument("invalid image name " + image.name);
  if (!IsValidImageTag(image.tag)) return InvalidArgument("invalid image tag " + image.tag);
  if (!IsValidSha256Digest(image.manifest_digest) ||
      image.manifest_digest.substr(7) != Sha256Hex(image.manifest_bytes)) {
    return InvalidArgument("the manifest's bytes do not hash to " + image.manifest_digest);
  }
  boost::system::error_code ec;
  json::value manifest = json::parse(image.manifest_bytes, ec);
  if (ec || !manifest.is_object()) return InvalidArgument("the manifest is not a JSON object");
  const json::value* config = manifest.as_object().if_contains("config");
  const json::value* layers = manifest.as_object().if_contains("layers");
  if (config == nullptr) return InvalidArgument("the manifest has no config");
  if (layers == nullptr || !layers->is_array()) {
    return InvalidArgument("the manifest has no layers array");
  }
  ASSIGN_OR_RETURN(OciArchiveBlob config_blob, ReadDescriptor(*config, "the config"));
  std::vector<OciArchiveBlob> layer_blobs;
  for (const json::value& l : layers->as_array()) {
    ASSIGN_OR_RETURN(OciArchiveBlob blob, ReadDescriptor(l, "a layer"));
    layer_blobs.push_back(std::move(blob));
  }

  const std::string ref = image.name + ":" + image.tag;
  json::object descriptor;
  descriptor["mediaType"] = image.manifest_media_type;
  descriptor["digest"] = image.manifest_digest;
  descriptor["size"] = image.manifest_bytes.size();
  descriptor["annotations"] =
      json::object{{kContainerdNameAnnotation, ref}, {kRefNameAnnotation, image.tag}};
  json::object index;
  index["schemaVersion"] = 2;
  index["mediaType"] = kOciIndexType;
  index["manifests"] = json::array{std::move(descriptor)};

  Layout layout;
  RETURN_IF_ERROR(layout.File("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  RETURN_IF_ERROR(layout.File("index.json", json::serialize(index)));
  if (image.docker_loadable) {
    json::array paths;
    for (const OciArchiveBlob& l : layer_blobs) paths.emplace_back(BlobPath(l.digest));
    json::object entry;
    entry["Config"] = BlobPath(config_blob.digest);
    entry["RepoTags"] = json::array{json::value(ref)};
    entry["Layers"] = std::move(paths);
    RETURN_IF_ERROR(layout.File("manifest.json", json::serialize(json::array{std::move(entry)})));
  }
  RETURN_IF_ERROR(layout.Directory("blobs/"));
  RETURN_IF_ERROR(layout.Directory("blobs/sha256/"));
  RETURN_IF_ERROR(layout.File(BlobPath(image.manifest_digest), image.manifest_bytes));
  // Each blob once, whatever the manifest repeats (a config equal to a layer, a layer twice).
  std::set<std::string> written = {image.manifest_digest};
  if (written.insert(config_blob.digest).second) RETURN_IF_ERROR(layout.Blob(config_blob));
  for (OciArchiveBlob& l : layer_blobs) {
    if (written.insert(l.digest).second) RETURN_IF_ERROR(layout.Blob(std::move(l)));
  }
  return std::move(layout).Finish();
}

Status WriteOciArchive(
    const OciArchive& archive,
    const std::function<Status(const OciArchiveBlob&,
                               const std::function<Status(std::string_view)>&)>& read_blob,
    const std::function<Status(std::string_view)>& sink) {
  for (const OciArchivePart& part : archive.parts) {
    if (!part.is_blob) {
      RETURN_IF_ERROR(sink(part.bytes));
      continue;
    }
    const OciArchiveBlob& blob = archive.blobs[part.blob];
    uint64_t fed = 0;
    Status s = read_blob(blob, [&](std::string_view data) -> Status {
      fed += data.size();
      if (fed > blob.size)
        return DataLoss("blob " + blob.digest + " is longer than its descriptor");
      return sink(data);
    });
    RETURN_IF_ERROR(s);
    if (fed != blob.size) {
      return DataLoss("blob " + blob.digest + " gave " + std::to_string(fed) + " bytes, not " +
                      std::to_string(blob.size));
    }
  }
  return Status::Ok();
}

}  // namespace mirrord
