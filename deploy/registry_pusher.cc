#include "deploy/registry_pusher.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/sha256.h"
#include "deploy/image_blob_source.h"
#include "deploy/oci_json.h"
#include "http/http_status.h"
#include "http/url.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr uint64_t kMaxPushedManifestBytes = 4 << 20;
constexpr char kOctetStream[] = "Content-Type: application/octet-stream";

// Distribution's repository name grammar: lower-case components of [a-z0-9] joined by
// [._-] runs, separated by '/'.
bool IsValidRepository(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(part.front()) || !alnum(part.back())) return false;
    for (char c : part) {
      if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

bool IsValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag.front())) return false;
  for (char c : tag) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

std::string WithQuery(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

// The end offset N of a "Range: 0-N" (or "bytes=0-N") answer; nullopt when absent or odd.
std::optional<uint64_t> RangeEnd(const ResponseHeaders& headers) {
  auto v = headers.Get("Range");
  if (!v) return std::nullopt;
  std::string_view s = *v;
  if (s.starts_with("bytes=")) s.remove_prefix(6);
  size_t dash = s.find('-');
  if (dash == std::string_view::npos || s.substr(0, dash) != "0") return std::nullopt;
  uint64_t end = 0;
  std::string_view n = s.substr(dash + 1);
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), end);
  if (ec != std::errc() || p != n.data() + n.size()) return std::nullopt;
  return end;
}

bool Retryable(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return true;
    case StatusCode::kResourceExhausted:
      return s.retry_after().has_value();  // 429: rate limited, not "too large"
    default:
      return false;
  }
}

struct Blob {
  std::string digest;
  uint64_t size = 0;
};

// Which repository of a registry (by origin) is known to hold a blob: the source of a
// cross-repository mount. Bounded: forgotten wholesale past kMaxEntries.
class MountRecord {
 public:
  static constexpr size_t kMaxEntries = 100'000;
  std::optional<std::string> Find(const std::string& origin, const std::string& digest) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = repos_.find({origin, digest});
    if (it == repos_.end()) return std::nullopt;
    return it->second;
  }
  void Note(const std::string& origin, const std::string& digest, const std::string& repo) {
    std::lock_guard<std::mutex> lock(mu_);
    if (repos_.size() >= kMaxEntries) repos_.clear();
    repos_[{origin, digest}] = repo;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::string> repos_;
};

// One Push: the session, the counts, the retry budget.
class PushRun {
 public:
  PushRun(Catalog& catalog, const BlobStore& lfs, const OciStore& oci,
          const RegistryPusherOptions& options, MountRecord& mounts, const RegistryTarget& target,
          const PushRequest& request, const std::function<void(const PushProgress&)>& progress,
          const std::atomic<bool>* cancelled)
      : catalog_(catalog),
        lfs_(lfs),
        oci_(oci),
        options_(options),
        mounts_(mounts),
        target_(target),
        request_(request),
        progress_(progress),
        cancelled_(cancelled),
        backoff_(options.backoff, options.timing.seed),
        scope_("repository:" + request.repository + ":pull,push") {}

  Result<PushReport> Run() {
    const auto start = std::chrono::steady_clock::now();
    if (!IsValidRepository(request_.repository)) {
      return InvalidArgument("push: invalid destination repository \"" + request_.repository +
                             "\"");
    }
    for (const std::string& tag : request_.tags) {
      if (!IsValidTag(tag)) return InvalidArgument("push: invalid tag \"" + tag + "\"");
    }
    if (!IsValidSha256Digest(request_.manifest_digest)) {
      return InvalidArgument("push: invalid manifest digest \"" + request_.manifest_digest + "\"");
    }
    ASSIGN_OR_RETURN(session_, RegistrySession::Create(target_, options_.session, cancelled_));
    origin_ = UrlOrigin(session_->base());
    RETURN_IF_ERROR(LoadManifest());
    RETURN_IF_ERROR(Ping());

    std::vector<Blob> needed;
    for (const Blob& b : blobs_) {
      Result<bool> present = Exists(b);
      if (!present.ok()) {
        return present.status().WithContext("push " + request_.source_name + " blob " + b.digest);
      }
      if (*present) {
        ++report_.blobs_skipped;
        mounts_.Note(origin_, b.digest, request_.repository);
      } else {
        needed.push_back(b);
        progress_state_.bytes_total += b.size;
      }
    }
    progress_state_.blobs_total = blobs_.size();
    progress_state_.blobs_done = report_.blobs_skipped;
    Progress(false);
    for (const Blob& b : needed) {
      progress_state_.blob = b.digest;
      Status s = PushBlob(b);
      if (!s.ok()) return s.WithContext("push " + request_.source_name + " blob " + b.digest);
      mounts_.Note(origin_, b.digest, request_.repository);
      ++progress_state_.blobs_done;
      progress_state_.blob.clear();
      Progress(false);
    }
    std::vector<std::string> references = {request_.manifest_digest};
    for (const std::string& tag : request_.tags) references.push_back(tag);
    for (const std::string& ref : references) {
      Status s = PutManifest(ref);
      if (!s.ok()) {
        return s.WithContext("push " + request_.source_name + " manifest " +
                             request_.manifest_digest + " as " + request_.repository + ":" + ref);
      }
    }
    report_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    Progress(true);
    return report_;
  }

 private:
  // The manifest's bytes and media type as mirrord serves them, and its blobs.
  Status LoadManifest() {
    const std::string what = "push " + request_.source_name + "@" + request_.manifest_digest;
    ASSIGN_OR_RETURN(std::optional<ImageRecord> record,
                     catalog_.FindManifest(request_.source_name, request_.manifest_digest));
    if (!record) return NotFound(what + ": no such image manifest");
    media_type_ = record->digest == request_.manifest_digest ? record->media_type
                                                             : std::string(kDockerManifestType);
    ASSIGN_OR_RETURN(
        std::optional<ImageBlobSource> source,
        LocateImageBlob(catalog_, lfs_, oci_, request_.source_name, request_.manifest_digest));
    if (!source) return NotFound(what + ": the manifest's bytes are not stored");
    if (source->size > kMaxPushedManifestBytes)
      return ResourceExhausted(what + ": manifest too large");
    manifest_.reserve(source->size);
    RETURN_IF_ERROR(ReadImageBlob(*source, lfs_, 0, source->size, [&](std::string_view piece) {
      manifest_.append(piece);
      return Status::Ok();
    }));
    if ("sha256:" + Sha256Hex(manifest_) != request_.manifest_digest) {
      return DataLoss(what + ": stored manifest does not match its digest");
    }
    boost::system::error_code ec;
    json::value v = json::parse(manifest_, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr) return InvalidArgument(what + ": manifest is not a JSON object");
    if (o->if_contains("manifests") != nullptr) {
      return InvalidArgument(what + ": an index; push its manifests one by one");
    }
    std::set<std::string> seen;
    auto add = [&](const json::value& d) -> Status {
      const json::object* dobj = d.if_object();
      const json::value* digest = dobj ? dobj->if_contains("digest") : nullptr;
      const json::value* size = dobj ? dobj->if_contains("size") : nullptr;
      if (digest == nullptr || !digest->is_string() || !IsValidSha256Digest(digest->as_string()) ||
          size == nullptr || !(size->is_uint64() || (size->is_int64() && size->as_int64() >= 0))) {
        return InvalidArgument(what + ": malformed descriptor");
      }
      Blob b{std::string(digest->as_string()),
             size->is_uint64() ? size->as_uint64() : static_cast<uint64_t>(size->as_int64())};
      if (seen.insert(b.digest).second) blobs_.push_back(std::move(b));
      return Status::Ok();
    };
    const json::value* config = o->if_contains("config");
    if (config == nullptr) return InvalidArgument(what + ": manifest without a config");
    RETURN_IF_ERROR(add(*config));
    if (const json::value* layers = o->if_contains("layers")) {
      if (!layers->is_array()) return InvalidArgument(what + ": layers is not an array");
      for (const json::value& l : layers->as_array()) RETURN_IF_ERROR(add(l));
    }
    return Status::Ok();
  }

  Status HttpError(const RegistryResponse& r, const std::string& resource) {
    HttpErrorContext context;
    context.subject = "registry " + target_.name + " (" + origin_ + ")";
    context.resource = resource;
    context.default_rate_limit_wait = std::chrono::seconds(1);
    return HttpStatusError(r.status, r.headers, r.body, context, std::chrono::system_clock::now());
  }

  // Waits before the next try of `failure`, or returns why not to try again.
  Status BeforeRetry(const Status& failure) {
    if (!Retryable(failure)) return failure;
    if (retries_ >= options_.max_retries) {
      return failure.WithContext("gave up after " + std::to_string(retries_) + " retries");
    }
    std::chrono::milliseconds wait = backoff_.Delay(retries_);
    if (failure.retry_after()) {
      wait = std::max<std::chrono::milliseconds>(wait, *failure.retry_after());
    }
    ++retries_;
    MLOG(Info) << "push to " << target_.name << ": " << failure.ToString() << "; retry " << retries_
               << " in " << wait.count() << " ms";
    return WaitFor(options_.timing, wait, CancelFlag(cancelled_));
  }

  // Sends a body-less request, retrying transfer failures and retryable answers; returns
  // the first answer whose status is in `accept` (or any non-retryable one as an error).
  Result<RegistryResponse> Call(RegistryRequest request, std::initializer_list<long> accept,
                                const std::string& resource) {
    for (;;) {
      Result<RegistryResponse> r = session_->Send(request);
      Status failure;
      if (r.ok()) {
        if (std::find(accept.begin(), accept.end(), r->status) != accept.end()) return r;
        failure = HttpError(*r, resource);
      } else {
        failure = r.status();
      }
      RETURN_IF_ERROR(BeforeRetry(failure));
    }
  }

  // Learns the registry's authentication (GET /v2/ answers 200, or 401 with a challenge
  // that the session then answers).
  Status Ping() {
    RegistryRequest request;
    request.url = "/v2/";
    request.scopes = {scope_};
    ASSIGN_OR_RETURN(RegistryResponse r, Call(request, {200, 401}, "API /v2/"));
    if (r.status == 401) {
      return PermissionDenied("registry " + target_.name + " (" + origin_ +
                              ") refused the credentials for /v2/");
    }
    return Status::Ok();
  }

  Result<bool> Exists(const Blob& b) {
    RegistryRequest request;
    request.method = "HEAD";
    request.url = "/v2/" + request_.repository + "/blobs/" + b.digest;
    request.scopes = {scope_};
    ASSIGN_OR_RETURN(RegistryResponse r, Call(request, {200, 404}, "blob " + b.digest));
    return r.status == 200;
  }

  Status PushBlob(const Blob& b) {
    ASSIGN_OR_RETURN(std::optional<ImageBlobSource> source,
                     LocateImageBlob(catalog_, lfs_, oci_, request_.source_name, b.digest));
    if (!source) return NotFound("not stored");
    if (source->size != b.size) {
      return DataLoss("stored size " + std::to_string(source->size) + ", manifest says " +
                      std::to_string(b.size));
    }
    std::optional<std::string> upload;
    if (auto from = mounts_.Find(origin_, b.digest); from && *from != request_.repository) {
      RegistryRequest mount;
      mount.method = "POST";
      mount.url =
          "/v2/" + request_.repository + "/blobs/uploads/?mount=" + b.digest + "&from=" + *from;
      mount.scopes = {scope_, "repository:" + *from + ":pull"};
      // Any answer but 201/202 (the source refused, a registry without mounts) or a failed
      // transfer: a plain upload instead.
      Result<RegistryResponse> r = session_->Send(mount);
      if (!r.ok() && r.status().code() == StatusCode::kCancelled) return r.status();
      if (r.ok() && r->status == 201) {
        ++report_.blobs_mounted;
        return Status::Ok();
      }
      if (r.ok() && r->status == 202) {
        if (auto location = r->headers.Get("Location")) {
          upload = session_->Resolve(std::string(*location));
        }
      }
    }
    for (;;) {
      Status s = Upload(b, *source, upload);
      if (s.ok()) {
        ++report_.blobs_uploaded;
        return s;
      }
      upload.reset();  // a fresh upload next time
      RETURN_IF_ERROR(BeforeRetry(s));
    }
  }

  RequestBody BodyOf(const ImageBlobSource& source, uint64_t begin, uint64_t end) {
    RequestBody body;
    body.size = end - begin;
    body.read = [this, &source, begin](uint64_t from, uint64_t to, std::string* out) -> Status {
      RETURN_IF_ERROR(
          ReadImageBlob(source, lfs_, begin + from, begin + to, [out](std::string_view piece) {
            out->append(piece);
            return Status::Ok();
          }));
      progress_state_.bytes_sent += to - from;
      Progress(false);
      return Status::Ok();
    };
    return body;
  }

  // One try at uploading `b` (into `upload` when a mount left a session open). Any failure
  // that is worth a fresh upload is returned as is (the caller decides on retrying).
  Status Upload(const Blob& b, const ImageBlobSource& source, std::optional<std::string> upload) {
    uint64_t chunk_min = 0;
    if (!upload) {
      RegistryRequest start;
      start.method = "POST";
      start.url = "/v2/" + request_.repository + "/blobs/uploads/";
      start.scopes = {scope_};
      ASSIGN_OR_RETURN(RegistryResponse r, Call(start, {202}, "upload of " + b.digest));
      auto location = r.headers.Get("Location");
      if (!location) return Unavailable("the registry opened an upload without a Location");
      upload = session_->Resolve(std::string(*location));
      if (auto min = r.headers.Get("OCI-Chunk-Min-Length")) {
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(min->data(), min->data() + min->size(), v);
        if (ec == std::errc() && p == min->data() + min->size()) chunk_min = v;
      }
    }
    std::string url = *upload;
    if (b.size < options_.monolithic_limit) {
      RequestBody body = BodyOf(source, 0, b.size);
      RegistryRequest put;
      put.method = "PUT";
      put.url = WithQuery(url, "digest=" + b.digest);
      put.headers = {kOctetStream};
      put.scopes = {scope_};
      put.body = &body;
      uint64_t sent = 0;
      Result<RegistryResponse> r = session_->Send(put, &sent);
      report_.bytes_sent += sent;
      if (!r.ok()) return r.status();
      if (r->status != 201) return HttpError(*r, "upload of " + b.digest);
      return Status::Ok();
    }
    // Chunked, resumable.
    const uint64_t chunk = std::max<uint64_t>({options_.chunk_size, chunk_min, 1});
    uint64_t offset = 0;
    while (offset < b.size) {
      const uint64_t end = std::min(b.size, offset + chunk);
      RequestBody body = BodyOf(source, offset, end);
      RegistryRequest patch;
      patch.method = "PATCH";
      patch.url = url;
      patch.headers = {kOctetStream,
                       "Content-Range: " + std::to_string(offset) + "-" + std::to_string(end - 1)};
      patch.scopes = {scope_};
      patch.body = &body;
      uint64_t sent = 0;
      Result<RegistryResponse> r = session_->Send(patch, &sent);
      report_.bytes_sent += sent;
      Status failure;
      if (r.ok() && r->status == 202) {
        if (auto location = r->headers.Get("Location"))
          url = session_->Resolve(std::string(*location));
        std::optional<uint64_t> acked = RangeEnd(r->headers);
        offset = acked ? std::min(b.size, *acked + 1) : end;
        continue;
      }
      failure = r.ok() ? HttpError(*r, "upload of " + b.digest) : r.status();
      if (r.ok() && r->status == 416)
        failure = Unavailable("the registry refused the chunk's range");
      RETURN_IF_ERROR(BeforeRetry(failure));
      // Where does the upload stand?
      for (;;) {
        RegistryRequest status;
        status.url = url;
        status.scopes = {scope_};
        Result<RegistryResponse> g = session_->Send(status);
        if (g.ok() && (g->status == 204 || g->status == 200)) {
          if (auto location = g->headers.Get("Location")) {
            url = session_->Resolve(std::string(*location));
          }
          std::optional<uint64_t> have = RangeEnd(g->headers);
          // "0-0" is also what a registry says for an empty upload.
          uint64_t next = !have ? 0 : (*have == 0 && offset == 0 ? 0 : *have + 1);
          offset = std::min(next, b.size);
          ++report_.uploads_resumed;
          MLOG(Info) << "push to " << target_.name << ": blob " << b.digest << " resumes at "
                     << offset;
          break;
        }
        if (g.ok() && (g->status == 404 || g->status == 400)) {
          return Unavailable("the registry lost the upload (HTTP " + std::to_string(g->status) +
                             "); starting again");
        }
        Status gf = g.ok() ? HttpError(*g, "upload of " + b.digest) : g.status();
        RETURN_IF_ERROR(BeforeRetry(gf));
      }
    }
    RegistryRequest close;
    close.method = "PUT";
    close.url = WithQuery(url, "digest=" + b.digest);
    close.headers = {kOctetStream};
    close.scopes = {scope_};
    Result<RegistryResponse> r = session_->Send(close);
    if (r.ok() && r->status == 201) return Status::Ok();
    Status failure = r.ok() ? HttpError(*r, "upload of " + b.digest) : r.status();
    if (Retryable(failure)) {
      // The answer may be what was lost: the blob may be complete.
      RETURN_IF_ERROR(BeforeRetry(failure));
      ASSIGN_OR_RETURN(bool present, Exists(b));
      if (present) return Status::Ok();
    }
    return failure;
  }

  Status PutManifest(const std::string& reference) {
    RequestBody body;
    body.size = manifest_.size();
    body.read = [this](uint64_t from, uint64_t to, std::string* out) {
      out->append(manifest_, from, to - from);
      return Status::Ok();
    };
    RegistryRequest put;
    put.method = "PUT";
    put.url = "/v2/" + request_.repository + "/manifests/" + reference;
    put.headers = {"Content-Type: " + media_type_};
    put.scopes = {scope_};
    put.body = &body;
    ASSIGN_OR_RETURN(RegistryResponse r, Call(put, {201}, "manifest"));
    if (auto digest = r.headers.Get("Docker-Content-Digest");
        digest && *digest != request_.manifest_digest) {
      return DataLoss("the registry stored digest " + std::string(*digest));
    }
    return Status::Ok();
  }

  void Progress(bool final) {
    if (!progress_) return;
    auto now = std::chrono::steady_clock::now();
    if (!final && last_progress_ && now - *last_progress_ < options_.progress_interval) return;
    last_progress_ = now;
    progress_(progress_state_);
  }

  Catalog& catalog_;
  const BlobStore& lfs_;
  const OciStore& oci_;
  const RegistryPusherOptions& options_;
  MountRecord& mounts_;
  const RegistryTarget& target_;
  const PushRequest& request_;
  const std::function<void(const PushProgress&)>& progress_;
  const std::atomic<bool>* cancelled_;
  Backoff backoff_;
  const std::string scope_;

  std::unique_ptr<RegistrySession> session_;
  std::string origin_;
  std::string manifest_;
  std::string media_type_;
  std::vector<Blob> blobs_;
  PushReport report_;
  PushProgress progress_state_;
  std::optional<std::chrono::steady_clock::time_point> last_progress_;
  int retries_ = 0;
};

class RegistryPusher final : public ImagePusher {
 public:
  RegistryPusher(Catalog& catalog, const BlobStore& lfs, const OciStore& oci,
                 RegistryPusherOptions options)
      : catalog_(catalog), lfs_(lfs), oci_(oci), options_(std::move(options)) {}

  Result<PushReport> Push(const RegistryTarget& target, const PushRequest& request,
                          const std::function<void(const PushProgress&)>& progress,
                          const std::atomic<bool>* cancelled) override {
    PushRun run(catalog_, lfs_, oci_, options_, mounts_, target, request, progress, cancelled);
    return run.Run();
  }

 private:
  Catalog& catalog_;
  const BlobStore& lfs_;
  const OciStore& oci_;
  const RegistryPusherOptions options_;
  MountRecord mounts_;
};

}  // namespace

std::unique_ptr<ImagePusher> MakeRegistryPusher(Catalog& catalog, const BlobStore& lfs,
                                                const OciStore& oci,
                                                RegistryPusherOptions options) {
  return std::make_unique<RegistryPusher>(catalog, lfs, oci, std::move(options));
}

std::unique_ptr<ImagePusher> MakeRegistryPusher(Catalog& catalog, const BlobStore& lfs,
                                                const OciStore& oci) {
  return MakeRegistryPusher(catalog, lfs, oci, RegistryPusherOptions{});
}

}  // namespace mirrord
