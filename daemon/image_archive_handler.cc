// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/image_archive_handler.h"

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "common/build_config.h"
#include "common/log.h"
#include "daemon/admin_auth.h"
#include "daemon/blocking.h"
#include "deploy/image_blob_source.h"
#include "deploy/oci_archive.h"
#include "deploy/oci_json.h"

namespace mirrord {
namespace {

constexpr std::string_view kPrefix = "/api/v1/images/";
constexpr std::string_view kSuffix = "/archive";

struct ImageRef {
  std::string name;
  std::string tag;
};

// "<name>:<tag>" of the path; nullopt when the path is not an archive path.
std::optional<ImageRef> SplitPath(std::string_view path) {
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix)) return std::nullopt;
  std::string_view ref = path.substr(kPrefix.size());
  if (ref.size() < kSuffix.size()) return std::nullopt;
  ref.remove_suffix(kSuffix.size());
  size_t colon = ref.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return ImageRef{std::string(ref.substr(0, colon)), std::string(ref.substr(colon + 1))};
}

// The archive and every file it is sent from, opened.
struct Prepared {
  std::string digest;
  OciArchive archive;
  std::vector<ImageBlobSource> sources;     // one per archive.blobs
  std::map<std::string, UniqueFd> objects;  // LFS objects of generated layers, by oid
};

}  // namespace

bool ImageArchiveHandler::Handles(std::string_view path) { return SplitPath(path).has_value(); }

boost::asio::awaitable<void> ImageArchiveHandler::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  std::optional<ImageRef> ref = SplitPath(ex.path());
  if (!ref || !IsValidImageName(ref->name) || !IsValidImageTag(ref->tag)) {
    co_await ex.Respond(AdminErrorResponse(
        req, InvalidArgument("expected /api/v1/images/NAME:TAG/archive with a valid image name "
                             "and tag")));
    co_return;
  }
  Result<Prepared> prepared = co_await RunBlocking(blocking_, [&]() -> Result<Prepared> {
    Prepared p;
    Result<ImageRecord> image = catalog_.GetImage(ref->name, ref->tag);
    if (!image.ok() && image.status().code() == StatusCode::kNotFound) {
      return NotFound("no image " + ref->name + ":" + ref->tag);
    }
    if (!image.ok()) return image.status();
    OciArchiveImage in;
    in.name = ref->name;
    in.tag = ref->tag;
    in.manifest_digest = image->digest;
    in.manifest_media_type = image->media_type;
    in.docker_loadable = image->kind == "image";
    Result<std::string> bytes = oci_.Read(image->digest);
    // Collected by retention since the lookup: unknown now.
    if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
      return NotFound("no image " + ref->name + ":" + ref->tag);
    }
    if (!bytes.ok()) return bytes.status();
    in.manifest_bytes = std::move(*bytes);
    p.digest = image->digest;
    Result<OciArchive> archive = PlanOciArchive(in);
    if (!archive.ok())
      return Internal("stored manifest " + p.digest + ": " + archive.status().message());
    p.archive = std::move(*archive);
    for (const OciArchiveBlob& blob : p.archive.blobs) {
      ASSIGN_OR_RETURN(std::optional<ImageBlobSource> source,
                       LocateImageBlob(catalog_, lfs_, oci_, ref->name, blob.digest));
      if (!source) return DataLoss("blob " + blob.digest + " of " + p.digest + " is missing");
      if (source->size != blob.size) {
        return DataLoss("blob " + blob.digest + " has " + std::to_string(source->size) +
                        " bytes, its descriptor says " + std::to_string(blob.size));
      }
      if (source->layer) {
        for (const TarSegment& seg : source->layer->segments()) {
          if (seg.oid.empty() || p.objects.contains(seg.oid)) continue;
          Result<UniqueFd> fd = lfs_.OpenObject(seg.oid);
          if (!fd.ok()) {
            return DataLoss("LFS object " + seg.oid + " of layer " + blob.digest + ": " +
                            fd.status().message());
          }
          p.objects.emplace(seg.oid, std::move(*fd));
        }
      }
      p.sources.push_back(std::move(*source));
    }
    return p;
  });
  if (!prepared.ok()) {
    if (prepared.status().code() != StatusCode::kNotFound) {
      MLOG(Error) << "image export " << ref->name << ":" << ref->tag << ": "
                  << prepared.status().ToString();
    }
    co_await ex.Respond(AdminErrorResponse(req, prepared.status()));
    co_return;
  }
  Prepared& p = *prepared;
  std::vector<BodyPiece> pieces;
  for (OciArchivePart& part : p.archive.parts) {
    if (!part.is_blob) {
      BodyPiece piece;
      piece.length = part.length;
      piece.bytes = std::move(part.bytes);
      pieces.push_back(std::move(piece));
      continue;
    }
    const ImageBlobSource& source = p.sources[part.blob];
    if (!source.layer) {
      pieces.push_back(BodyPiece{"", source.fd.get(), 0, source.size});
      continue;
    }
    // A generated layer: its headers and padding from memory, the objects by sendfile.
    for (const TarSegment& seg : source.layer->segments()) {
      if (seg.length == 0) continue;
      if (seg.oid.empty()) {
        pieces.push_back(BodyPiece{seg.bytes, -1, 0, seg.length});
      } else {
        pieces.push_back(BodyPiece{"", p.objects.at(seg.oid).get(), seg.offset, seg.length});
      }
    }
  }
  http::response<http::empty_body> header{http::status::ok, req.version()};
  header.keep_alive(req.keep_alive());
  header.set(http::field::content_type, "application/x-tar");
  std::string file = ref->name + "_" + ref->tag + ".tar";
  for (char& c : file) {
    if (c == '/') c = '_';
  }
  header.set(http::field::content_disposition, "attachment; filename=\"" + file + "\"");
  header.set("Mirrord-Image-Digest", p.digest);
  MLOG(Info) << "image export " << ref->name << ":" << ref->tag << " (" << p.digest << "), "
             << p.archive.size << " bytes";
  co_await ex.SendPieces(std::move(header), std::move(pieces));
}

}  // namespace mirrord
