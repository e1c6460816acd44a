// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/registry_http_handler.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <optional>

#include "common/build_config.h"
#include "common/log.h"
#include "daemon/blocking.h"
#include "deploy/image_blob_source.h"
#include "deploy/oci_json.h"
#include "deploy/tar_layer.h"
#include "lfs/http_range.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr char kApiVersionHeader[] = "Docker-Distribution-API-Version";
constexpr char kApiVersion[] = "registry/2.0";
constexpr char kDigestHeader[] = "Docker-Content-Digest";

HttpResponse RegistryError(const HttpRequest& req, http::status status, std::string_view code,
                           std::string_view message) {
  json::object e;
  e["code"] = code;
  e["message"] = message;
  e["detail"] = nullptr;
  json::array errors;
  errors.push_back(std::move(e));
  json::object body;
  body["errors"] = std::move(errors);
  HttpResponse res = MakeResponse(req, status, json::serialize(body), "application/json");
  res.set(kApiVersionHeader, kApiVersion);
  return res;
}

HttpResponse JsonAnswer(const HttpRequest& req, std::string body, std::string_view type) {
  HttpResponse res = MakeResponse(req, http::status::ok, std::move(body), type);
  res.set(kApiVersionHeader, kApiVersion);
  return res;
}

// n= and last= of a paginated list; nullopt for an n that is not a number.
std::optional<RegistryPage> ReadPage(const std::map<std::string, std::string>& query) {
  RegistryPage page;
  if (auto it = query.find("n"); it != query.end()) {
    const std::string& v = it->second;
    size_t parsed = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    page.n = std::min(parsed, kRegistryMaxPage);
    page.limited = true;
  }
  if (auto it = query.find("last"); it != query.end()) page.last = it->second;
  return page;
}

// "/v2/<name>/<kind>/<rest>" split at the last "/manifests/", "/blobs/", "/referrers/" or
// at a trailing "/tags/list".
// True when the request's Accept headers name the Docker schema 2 manifest type and not
// the OCI image manifest type (media-type parameters such as q= are ignored).
bool AcceptsDockerOnly(const HttpRequest& req) {
  bool docker = false, oci = false;
  for (auto [it, end] = req.equal_range(http::field::accept); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      item = item.substr(0, item.find(';'));
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      docker = docker || item == kDockerManifestType;
      oci = oci || item == kOciManifestType;
    }
  }
  return docker && !oci;
}

bool IsPushVerb(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch ||
         v == http::verb::delete_;
}

}  // namespace

HttpResponse RegistryErrorResponse(const HttpRequest& req, http::status status,
                                   std::string_view code, std::string_view message) {
  return RegistryError(req, status, code, message);
}

std::optional<RegistryPath> SplitRegistryPath(std::string_view path) {
  if (!path.starts_with("/v2/")) return std::nullopt;
  std::string_view p = path.substr(4);
  if (p.ends_with("/tags/list")) {
    return RegistryPath{std::string(p.substr(0, p.size() - 10)), "tags", ""};
  }
  for (std::string_view kind : {"manifests", "blobs", "referrers"}) {
    std::string marker = "/" + std::string(kind) + "/";
    size_t at = p.rfind(marker);
    if (at == std::string_view::npos) continue;
    return RegistryPath{std::string(p.substr(0, at)), std::string(kind),
                        std::string(p.substr(at + marker.size()))};
  }
  return std::nullopt;
}

boost::asio::awaitable<void> RegistryHttpHandler::Handle(HttpExchange& ex,
                                                         RegistryNameFilter visible) {
  const HttpRequest& req = ex.request();
  const std::string& path = ex.path();
  if (IsPushVerb(req.method())) {
    HttpResponse res = RegistryError(req, http::status::method_not_allowed, "UNSUPPORTED",
                                     "this registry is read-only: images are built by mirrord");
    res.set(http::field::allow, "GET, HEAD");
    co_await ex.Respond(std::move(res));
    co_return;
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    HttpResponse res =
        RegistryError(req, http::status::method_not_allowed, "UNSUPPORTED", "use GET or HEAD");
    res.set(http::field::allow, "GET, HEAD");
    co_await ex.Respond(std::move(res));
    co_return;
  }
  if (path == "/v2" || path == "/v2/") {
    co_await ex.Respond(JsonAnswer(req, "{}", "application/json"));
    co_return;
  }
  std::optional<RegistryPath> parts = SplitRegistryPath(path);
  std::optional<RegistryPage> page = ReadPage(ex.query());
  const bool paged = path == "/v2/_catalog" || (parts && parts->kind == "tags");
  if (paged && !page) {
    co_await ex.Respond(RegistryError(req, http::status::bad_request, "PAGINATION_NUMBER_INVALID",
                                      "n must be a non-negative integer"));
    co_return;
  }
  if (path == "/v2/_catalog") {
    co_await CatalogList(ex, *page, visible);
    co_return;
  }
  if (!parts) {
    co_await ex.Respond(
        RegistryError(req, http::status::not_found, "NAME_UNKNOWN", "no such registry endpoint"));
    co_return;
  }
  if (!IsValidImageName(parts->name)) {
    co_await ex.Respond(
        RegistryError(req, http::status::bad_request, "NAME_INVALID", "invalid repository name"));
    co_return;
  }
  if ((parts->kind == "blobs" || parts->kind == "referrers") && !IsValidSha256Digest(parts->rest)) {
    co_await ex.Respond(
        RegistryError(req, http::status::bad_request, "DIGEST_INVALID", "invalid digest"));
    co_return;
  }
  if (parts->kind == "manifests") {
    co_await Manifest(ex, parts->name, parts->rest);
  } else if (parts->kind == "blobs") {
    co_await Blob(ex, parts->name, parts->rest);
  } else if (parts->kind == "tags") {
    co_await Tags(ex, parts->name, *page);
  } else {
    co_await Referrers(ex, parts->name);
  }
}

boost::asio::awaitable<void> RegistryHttpHandler::Manifest(HttpExchange& ex, std::string name,
                                                           std::string reference) {
  const HttpRequest& req = ex.request();
  const bool by_digest = reference.starts_with("sha256:");
  if (by_digest ? !IsValidSha256Digest(reference) : !IsValidImageTag(reference)) {
    co_await ex.Respond(RegistryError(req, http::status::bad_request,
                                      by_digest ? "DIGEST_INVALID" : "TAG_INVALID",
                                      "invalid manifest reference"));
    co_return;
  }
  struct Found {
    std::string digest;
    std::string media_type;
    std::string bytes;
  };
  const bool docker_only = AcceptsDockerOnly(req);
  Result<std::optional<Found>> found =
      co_await RunBlocking(blocking_, [&]() -> Result<std::optional<Found>> {
        std::optional<ImageRecord> image;
        if (by_digest) {
          ASSIGN_OR_RETURN(image, catalog_.FindManifest(name, reference));
        } else {
          Result<ImageRecord> tagged = catalog_.GetImage(name, reference);
          if (!tagged.ok() && tagged.status().code() != StatusCode::kNotFound) {
            return tagged.status();
          }
          if (tagged.ok()) image = std::move(*tagged);
        }
        if (!image) return std::optional<Found>();
        Found f{image->digest, image->media_type, ""};
        // By digest: what the digest names. By tag: the Docker twin only for a client that
        // cannot take OCI.
        const bool docker = by_digest ? reference == image->docker_digest
                                      : docker_only && !image->docker_digest.empty();
        if (docker) f = Found{image->docker_digest, kDockerManifestType, ""};
        Result<std::string> bytes = oci_.Read(f.digest);
        // Unlisted and collected by retention since the lookup: unknown now.
        if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
          return std::optional<Found>();
        }
        if (!bytes.ok()) return bytes.status();
        f.bytes = std::move(*bytes);
        return std::optional<Found>(std::move(f));
      });
  if (!found.ok()) {
    MLOG(Error) << "registry: manifest " << name << ":" << reference << ": "
                << found.status().ToString();
    co_await ex.Respond(RegistryError(req, http::status::internal_server_error, "UNKNOWN",
                                      "cannot read the manifest"));
    co_return;
  }
  if (!found->has_value()) {
    co_await ex.Respond(
        RegistryError(req, http::status::not_found, "MANIFEST_UNKNOWN", "manifest unknown"));
    co_return;
  }
  Found& f = **found;
  HttpResponse res = JsonAnswer(req, std::move(f.bytes), f.media_type);
  res.set(kDigestHeader, f.digest);
  res.set(http::field::etag, "\"" + f.digest + "\"");
  co_await ex.Respond(std::move(res));
}

boost::asio::awaitable<void> RegistryHttpHandler::Blob(HttpExchange& ex, std::string name,
                                                       std::string digest) {
  const HttpRequest& req = ex.request();
  Result<std::optional<ImageBlobSource>> source =
      co_await RunBlocking(blocking_, [&]() -> Result<std::optional<ImageBlobSource>> {
        return LocateImageBlob(catalog_, lfs_, oci_, name, digest);
      });
  if (!source.ok()) {
    MLOG(Error) << "registry: blob " << name << "@" << digest << ": " << source.status().ToString();
    co_await ex.Respond(
        RegistryError(req, http::status::internal_server_error, "UNKNOWN", "cannot read the blob"));
    co_return;
  }
  if (!source->has_value()) {
    co_await ex.Respond(
        RegistryError(req, http::status::not_found, "BLOB_UNKNOWN", "blob unknown to registry"));
    co_return;
  }
  ImageBlobSource& s = **source;
  HttpRangeSelection range = SelectHttpRange(req[http::field::range], s.size);
  http::response<http::empty_body> header;
  header.version(req.version());
  header.keep_alive(req.keep_alive());
  header.set(http::field::content_type, "application/octet-stream");
  header.set(http::field::accept_ranges, "bytes");
  header.set(http::field::etag, "\"" + digest + "\"");
  header.set(http::field::cache_control, "public, max-age=31536000, immutable");
  header.set(kDigestHeader, digest);
  header.set(kApiVersionHeader, kApiVersion);
  uint64_t begin = 0, end = s.size;
  switch (range.kind) {
    case HttpRangeSelection::Kind::kUnsatisfiable: {
      HttpResponse res = RegistryError(req, http::status::range_not_satisfiable, "BLOB_UNKNOWN",
                                       "range not satisfiable");
      res.set(http::field::content_range, UnsatisfiedContentRangeHeader(s.size));
      co_await ex.Respond(std::move(res));
      co_return;
    }
    case HttpRangeSelection::Kind::kPartial:
      header.result(http::status::partial_content);
      header.set(http::field::content_range, ContentRangeHeader(range.begin, range.end, s.size));
      begin = range.begin;
      end = range.end;
      break;
    case HttpRangeSelection::Kind::kWhole:
      header.result(http::status::ok);
      break;
  }
  if (!s.layer) {
    co_await ex.SendFile(std::move(header), s.fd.get(), begin, end - begin);
    co_return;
  }
  // A generated layer: its header bytes and padding from memory, the objects' bytes by
  // sendfile from the LFS store, one piece each, Range applied across the pieces.
  const TarLayer& layer = *s.layer;
  std::vector<TarPiece> parts = layer.Pieces(begin, end);
  Result<std::map<std::string, UniqueFd>> fds =
      co_await RunBlocking(blocking_, [&]() -> Result<std::map<std::string, UniqueFd>> {
        std::map<std::string, UniqueFd> open;
        for (const TarPiece& part : parts) {
          const std::string& oid = layer.segments()[part.segment].oid;
          if (oid.empty() || open.contains(oid)) continue;
          ASSIGN_OR_RETURN(UniqueFd fd, lfs_.OpenObject(oid));
          open.emplace(oid, std::move(fd));
        }
        return open;
      });
  if (!fds.ok()) {
    MLOG(Error) << "registry: layer " << digest << ": " << fds.status().ToString();
    co_await ex.Respond(
        RegistryError(req, http::status::internal_server_error, "UNKNOWN", "cannot read the blob"));
    co_return;
  }
  std::vector<BodyPiece> pieces;
  pieces.reserve(parts.size());
  for (const TarPiece& part : parts) {
    const TarSegment& seg = layer.segments()[part.segment];
    BodyPiece p;
    p.length = part.length;
    if (seg.oid.empty()) {
      p.bytes = seg.bytes.substr(part.offset, part.length);
    } else {
      p.fd = fds->at(seg.oid).get();
      p.offset = seg.offset + part.offset;
    }
    pieces.push_back(std::move(p));
  }
  co_await ex.SendPieces(std::move(header), std::move(pieces));
}

boost::asio::awaitable<void> RegistryHttpHandler::Tags(HttpExchange& ex, std::string name,
                                                       RegistryPage page) {
  const HttpRequest& req = ex.request();
  const size_t n = page.n;
  const std::string& last = page.last;
  Result<std::pair<bool, std::vector<ImageRecord>>> listed =
      co_await RunBlocking(blocking_, [&]() -> Result<std::pair<bool, std::vector<ImageRecord>>> {
        ASSIGN_OR_RETURN(std::vector<ImageRecord> any, catalog_.ListImages(name, "", 1));
        if (any.empty()) return std::pair{false, std::vector<ImageRecord>()};
        if (n == 0) return std::pair{true, std::vector<ImageRecord>()};
        ASSIGN_OR_RETURN(std::vector<ImageRecord> tags, catalog_.ListImages(name, last, n));
        return std::pair{true, std::move(tags)};
      });
  if (!listed.ok()) {
    co_await ex.Respond(
        RegistryError(req, http::status::internal_server_error, "UNKNOWN", "cannot list tags"));
    co_return;
  }
  if (!listed->first) {
    co_await ex.Respond(
        RegistryError(req, http::status::not_found, "NAME_UNKNOWN", "repository name not known"));
    co_return;
  }
  json::array tags;
  for (const ImageRecord& r : listed->second) tags.emplace_back(r.tag);
  json::object body;
  body["name"] = name;
  body["tags"] = std::move(tags);
  HttpResponse res = JsonAnswer(req, json::serialize(body), "application/json");
  if (page.limited && n > 0 && listed->second.size() == n) {
    res.set(http::field::link, "</v2/" + name + "/tags/list?n=" + std::to_string(n) +
                                   "&last=" + listed->second.back().tag + ">; rel=\"next\"");
  }
  co_await ex.Respond(std::move(res));
}

boost::asio::awaitable<void> RegistryHttpHandler::CatalogList(HttpExchange& ex, RegistryPage page,
                                                              const RegistryNameFilter& visible) {
  const HttpRequest& req = ex.request();
  const size_t n = page.n;
  const std::string& last = page.last;
  Result<std::vector<std::string>> names =
      co_await RunBlocking(blocking_, [&]() -> Result<std::vector<std::string>> {
        if (n == 0) return std::vector<std::string>();
        if (!visible) return catalog_.ListImageNames(last, n);
        // Pages of the catalog until n visible names or its end.
        std::vector<std::string> out;
        std::string after = last;
        for (;;) {
          ASSIGN_OR_RETURN(std::vector<std::string> batch, catalog_.ListImageNames(after, n));
          if (!batch.empty()) after = batch.back();
          const bool more = batch.size() == n;
          for (std::string& name : batch) {
            ASSIGN_OR_RETURN(bool shown, visible(name));
            if (shown) out.push_back(std::move(name));
            if (out.size() == n) return out;
          }
          if (!more) return out;
        }
      });
  if (!names.ok()) {
    co_await ex.Respond(RegistryError(req, http::status::internal_server_error, "UNKNOWN",
                                      "cannot list repositories"));
    co_return;
  }
  json::array repos;
  for (const std::string& r : *names) repos.emplace_back(r);
  json::object body;
  body["repositories"] = std::move(repos);
  HttpResponse res = JsonAnswer(req, json::serialize(body), "application/json");
  if (page.limited && n > 0 && names->size() == n) {
    res.set(http::field::link,
            "</v2/_catalog?n=" + std::to_string(n) + "&last=" + names->back() + ">; rel=\"next\"");
  }
  co_await ex.Respond(std::move(res));
}

boost::asio::awaitable<void> RegistryHttpHandler::Referrers(HttpExchange& ex, std::string name) {
  const HttpRequest& req = ex.request();
  Result<std::vector<ImageRecord>> any =
      co_await RunBlocking(blocking_, [&] { return catalog_.ListImages(name, "", 1); });
  if (!any.ok() || any->empty()) {
    co_await ex.Respond(
        RegistryError(req, http::status::not_found, "NAME_UNKNOWN", "repository name not known"));
    co_return;
  }
  // mirrord publishes no manifest with a subject, so nothing refers to anything yet.
  json::object index;
  index["manifests"] = json::array();
  index["mediaType"] = kOciIndexType;
  index["schemaVersion"] = 2;
  co_await ex.Respond(JsonAnswer(req, json::serialize(index), kOciIndexType));
}

}  // namespace mirrord
