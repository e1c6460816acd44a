#include "deploy/base_image.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <optional>

#include "common/base64.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/sha256.h"
#include "http/curl_handles.h"
#include "http/curl_session.h"
#include "http/http_status.h"
#include "http/response_headers.h"
#include "http/retry_wait.h"
#include "http/url.h"
#include "http/www_authenticate.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr char kAccept[] =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

// The scheme and parameters of the challenge to answer among `value`'s (http/
// www_authenticate.h): the first Bearer one, else the first other; ("", {}) when none parses.
std::pair<std::string, std::map<std::string, std::string>> ParseChallenge(std::string_view value) {
  Result<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate(value);
  if (!parsed.ok() || parsed->empty()) return {};
  const AuthChallenge* chosen = &parsed->front();
  for (const AuthChallenge& c : *parsed) {
    if (c.scheme == "bearer") {
      chosen = &c;
      break;
    }
  }
  // The first of a repeated parameter wins, as in AuthChallenge::Param.
  return {chosen->scheme,
          std::map<std::string, std::string>(chosen->params.begin(), chosen->params.end())};
}

struct Reply {
  long status = 0;
  ResponseHeaders headers;  // bounded
  std::string body;

  std::string Header(std::string_view name) const {
    return std::string(headers.Get(name).value_or(""));
  }
};

// The Status of a registry's error answer (http/http_status.h).
Status StatusForReply(const Reply& r, const std::string& what) {
  HttpErrorContext context;
  context.subject = what;
  context.resource = "image or blob";
  return HttpStatusError(r.status, r.headers, r.body, context, std::chrono::system_clock::now());
}

// One registry conversation: a curl session, the credentials and the current auth header.
class Registry {
 public:
  Registry(std::string base_url, const RegistryConfig* config, const PullOptions& options)
      : base_(std::move(base_url)), config_(config), options_(options) {}

  Status Init() {
    RETURN_IF_ERROR(EnsureCurlInitialized());
    ASSIGN_OR_RETURN(session_, CurlSession::Create());
    if (config_ == nullptr) return Status::Ok();
    if (!config_->token_file.empty()) {
      ASSIGN_OR_RETURN(std::string token, ReadFileToString(config_->token_file));
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
        token.pop_back();
      }
      auth_ = "Authorization: Bearer " + token;
    }
    if (!config_->password_file.empty()) {
      ASSIGN_OR_RETURN(password_, ReadFileToString(config_->password_file));
      while (!password_.empty() && std::isspace(static_cast<unsigned char>(password_.back()))) {
        password_.pop_back();
      }
    }
    return Status::Ok();
  }

  // GET base_ + path into memory (at most `limit` bytes), answering one auth challenge.
  Result<Reply> Get(const std::string& path, const std::vector<std::string>& headers,
                    uint64_t limit) {
    ASSIGN_OR_RETURN(Reply r, Fetch(base_ + path, headers, limit, -1, 0));
    if (r.status == 401 && auth_.empty()) {
      RETURN_IF_ERROR(Authenticate(r.Header("WWW-Authenticate")));
      ASSIGN_OR_RETURN(r, Fetch(base_ + path, headers, limit, -1, 0));
    }
    return r;
  }

  // GET base_ + path appending to `fd` from `offset` (Range when > 0).
  Result<Reply> Download(const std::string& path, int fd, uint64_t offset, uint64_t limit) {
    ASSIGN_OR_RETURN(Reply r, Fetch(base_ + path, {}, limit, fd, offset));
    if (r.status == 401 && auth_.empty()) {
      RETURN_IF_ERROR(Authenticate(r.Header("WWW-Authenticate")));
      ASSIGN_OR_RETURN(r, Fetch(base_ + path, {}, limit, fd, offset));
    }
    return r;
  }

 private:
  Status Authenticate(const std::string& challenge) {
    auto [scheme, params] = ParseChallenge(challenge);
    std::string basic;
    if (config_ != nullptr && !config_->username.empty()) {
      basic = "Authorization: Basic " + Base64(config_->username + ":" + password_);
    }
    if (scheme == "basic") {
      if (basic.empty()) return PermissionDenied("registry " + base_ + " wants credentials");
      auth_ = basic;
      return Status::Ok();
    }
    if (scheme != "bearer" || params["realm"].empty()) {
      return PermissionDenied("registry " + base_ + " sent an unusable challenge");
    }
    std::string url = params["realm"] + "?service=" + QueryEscape(params["service"]);
    if (!params["scope"].empty()) url += "&scope=" + QueryEscape(params["scope"]);
    std::vector<std::string> headers;
    if (!basic.empty()) headers.push_back(basic);
    ASSIGN_OR_RETURN(Reply r, Fetch(url, headers, 1 << 20, -1, 0));
    if (r.status != 200) {
      return PermissionDenied("token service " + params["realm"] + " answered " +
                              std::to_string(r.status));
    }
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* token = o == nullptr              ? nullptr
                               : o->if_contains("token") ? o->if_contains("token")
                                                         : o->if_contains("access_token");
    if (token == nullptr || !token->is_string()) {
      return PermissionDenied("token service " + params["realm"] + " sent no token");
    }
    auth_ = "Authorization: Bearer " + std::string(token->as_string());
    return Status::Ok();
  }

  struct Sink {
    std::string* body;
    int fd;
    uint64_t limit;
    uint64_t received = 0;
    bool too_large = false;
    Status write_error;
    CURL* handle = nullptr;
  };

  static size_t OnBody(char* data, size_t size, size_t n, void* p) {
    auto* sink = static_cast<Sink*>(p);
    size_t len = size * n;
    if (sink->received + len > sink->limit) {
      sink->too_large = true;
      return 0;
    }
    sink->received += len;
    long code = 0;
    curl_easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &code);
    // Only a successful answer's body goes to the file; an error body stays in memory.
    if (sink->fd >= 0 && (code == 200 || code == 206)) {
      sink->write_error = WriteAll(sink->fd, std::string_view(data, len));
      if (!sink->write_error.ok()) return 0;
    } else {
      sink->body->append(data, len);
    }
    return len;
  }

  Result<Reply> Fetch(const std::string& url, const std::vector<std::string>& extra, uint64_t limit,
                      int fd, uint64_t offset) {
    Reply reply;
    HttpRequestOptions request;
    request.max_redirects = 5;  // blobs may redirect to storage
    if (config_ != nullptr) {
      request.ca_file = config_->ca_file;
      request.insecure = config_->insecure;
    }
    CURL* h = session_->Prepare(url, request);
    std::vector<std::string> lines = extra;
    // The registry's credentials go to the registry only (a storage redirect gets none).
    if (!auth_.empty() && url.starts_with(base_)) lines.push_back(auth_);
    if (offset > 0) lines.push_back("Range: bytes=" + std::to_string(offset) + "-");
    ASSIGN_OR_RETURN(CurlSlistPtr headers, MakeHeaderList(lines));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    Sink sink{&reply.body, fd, limit, 0, false, Status::Ok(), h};
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &ResponseHeaders::CurlCallback);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Registry::OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode code = CURLE_OK;
    RETURN_IF_ERROR(session_->Perform(CancelFlag(options_.cancel), options_.stall_timeout, &code));
    reply.status = session_->ResponseCode();
    if (sink.too_large) {
      return ResourceExhausted(url + ": answer larger than " + std::to_string(limit) + " bytes");
    }
    if (!sink.write_error.ok()) return sink.write_error;
    if (code != CURLE_OK) return session_->TransferError(code, url);
    if (reply.status >= 500) return StatusForReply(reply, "registry " + url);
    return reply;
  }

  std::string base_;
  const RegistryConfig* config_;
  PullOptions options_;
  std::unique_ptr<CurlSession> session_;
  std::string password_;
  std::string auth_;  // the header line, once known
};

std::string OciLayerType(std::string_view type) {
  if (type == "application/vnd.docker.image.rootfs.diff.tar.gzip") {
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  }
  if (type == "application/vnd.docker.image.rootfs.diff.tar") return kOciTarLayerType;
  return std::string(type);
}

// Fetches one blob into the store (resuming a partial download), verified.
Status FetchBlob(Registry& reg, const std::string& repo, OciStore& store, const std::string& digest,
                 uint64_t size) {
  if (store.Contains(digest)) return Status::Ok();
  std::filesystem::path part = store.PartialPath(digest);
  UniqueFd fd(::open(part.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + part.string());
  // One download per blob at a time (two builds on the same base, or two mirrord nodes on
  // one store): the other waits, then finds the blob stored.
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "lock " + part.string());
  }
  if (store.Contains(digest)) return Status::Ok();
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + part.string());
  if (st.st_nlink == 0) return Unavailable("blob " + digest + ": raced with another download");
  std::error_code ec;
  uint64_t have = std::filesystem::file_size(part, ec);
  if (ec || have > size) {
    if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus(errno, "truncate " + part.string());
    have = 0;
  }
  if (have < size) {
    ASSIGN_OR_RETURN(Reply r,
                     reg.Download("/v2/" + repo + "/blobs/" + digest, fd.get(), have, size - have));
    if (r.status == 200 && have > 0) {
      // The registry ignored the Range: what it sent was appended after the old bytes.
      if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus(errno, "truncate " + part.string());
      return Unavailable("blob " + digest + ": the registry does not resume; retry from zero");
    }
    if (r.status != 200 && r.status != 206) return StatusForReply(r, "blob " + digest);
  }
  // Published while the lock is held, so a waiter finds the blob stored.
  return store.AdoptPartial(digest, size);
}

}  // namespace

Result<PulledBase> PullBaseImage(const ImageReference& ref, const RegistryConfig* registry,
                                 OciStore& store, const PullOptions& options) {
  std::string base_url = registry != nullptr ? registry->url : "https://" + ref.registry;
  while (base_url.ends_with('/')) base_url.pop_back();
  if (ref.registry == "docker.io" && registry == nullptr) base_url = "https://registry-1.docker.io";
  Registry reg(base_url, registry, options);
  RETURN_IF_ERROR(reg.Init());
  const std::string what = "base " + ref.ToString();

  std::string reference = ref.reference();
  PulledBase out;
  out.reference = ref;
  std::string manifest;
  for (int hop = 0; hop < 2; ++hop) {
    ASSIGN_OR_RETURN(Reply r, reg.Get("/v2/" + ref.repository + "/manifests/" + reference,
                                      {kAccept}, kMaxManifestBytes));
    if (r.status != 200) return StatusForReply(r, what);
    std::string digest = "sha256:" + Sha256Hex(r.body);
    if (reference.starts_with("sha256:") && digest != reference) {
      return DataLoss(what + ": manifest has digest " + digest + ", asked for " + reference);
    }
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return InvalidArgument(what + ": manifest is not JSON");
    const json::object& o = v.as_object();
    const json::value* manifests = o.if_contains("manifests");
    if (manifests != nullptr && manifests->is_array()) {  // an index: pick linux/amd64
      std::string chosen;
      for (const json::value& m : manifests->as_array()) {
        const json::object* mo = m.if_object();
        const json::value* platform = mo ? mo->if_contains("platform") : nullptr;
        const json::object* p = platform ? platform->if_object() : nullptr;
        const json::value* os = p ? p->if_contains("os") : nullptr;
        const json::value* arch = p ? p->if_contains("architecture") : nullptr;
        const json::value* d = mo ? mo->if_contains("digest") : nullptr;
        if (os && arch && d && os->is_string() && arch->is_string() && d->is_string() &&
            os->as_string() == "linux" && arch->as_string() == "amd64") {
          chosen = std::string(d->as_string());
          break;
        }
      }
      if (!IsValidSha256Digest(chosen)) return InvalidArgument(what + ": no linux/amd64 image");
      reference = chosen;
      continue;
    }
    manifest = std::move(r.body);
    out.manifest_digest = digest;
    break;
  }
  if (manifest.empty()) return InvalidArgument(what + ": index of an index");
  ASSIGN_OR_RETURN(std::string stored, store.Put(manifest));
  (void)stored;

  json::object m = json::parse(manifest).as_object();
  const json::value* config = m.if_contains("config");
  const json::value* layers = m.if_contains("layers");
  auto descriptor = [&](const json::value& d) -> Result<OciDescriptor> {
    const json::object* o = d.if_object();
    const json::value* digest = o ? o->if_contains("digest") : nullptr;
    const json::value* size = o ? o->if_contains("size") : nullptr;
    const json::value* type = o ? o->if_contains("mediaType") : nullptr;
    if (!digest || !size || !digest->is_string() || !IsValidSha256Digest(digest->as_string()) ||
        !(size->is_int64() || size->is_uint64()) || (size->is_int64() && size->as_int64() < 0)) {
      return InvalidArgument(what + ": malformed descriptor in the manifest");
    }
    OciDescriptor out_d;
    out_d.digest = std::string(digest->as_string());
    out_d.size = size->is_uint64() ? size->as_uint64() : static_cast<uint64_t>(size->as_int64());
    if (type && type->is_string()) out_d.media_type = OciLayerType(type->as_string());
    return out_d;
  };
  if (config == nullptr || layers == nullptr || !layers->is_array()) {
    return InvalidArgument(what + ": not an image manifest");
  }
  ASSIGN_OR_RETURN(OciDescriptor cfg, descriptor(*config));
  if (cfg.size > kMaxManifestBytes) return ResourceExhausted(what + ": config too large");
  RETURN_IF_ERROR(FetchBlob(reg, ref.repository, store, cfg.digest, cfg.size));
  ASSIGN_OR_RETURN(out.config, store.Read(cfg.digest));
  out.config_digest = cfg.digest;
  for (const json::value& l : layers->as_array()) {
    ASSIGN_OR_RETURN(OciDescriptor d, descriptor(l));
    RETURN_IF_ERROR(FetchBlob(reg, ref.repository, store, d.digest, d.size));
    out.layers.push_back(std::move(d));
  }
  MLOG(Info) << "base " << ref.ToString() << ": " << out.manifest_digest << ", "
             << out.layers.size() << " layers";
  return out;
}

}  // namespace mirrord
