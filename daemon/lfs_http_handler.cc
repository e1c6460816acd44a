// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/lfs_http_handler.h"

#include <sys/stat.h>

#include <boost/beast/core/string.hpp>
#include <utility>

#include "common/lfs_pointer.h"
#include "common/log.h"
#include "daemon/blocking.h"
#include "daemon/ranged_response.h"
#include "lfs/batch_json.h"

namespace mirrord {
namespace {

namespace net = boost::asio;

constexpr std::string_view kLfsPrefix = "/info/lfs";
constexpr std::string_view kReadOnlyMessage =
    "mirrord is a read-only mirror: push LFS objects to the upstream repository instead";

HttpResponse LfsJson(const HttpRequest& req, http::status status, std::string body) {
  return MakeResponse(req, status, std::move(body), kLfsMediaType);
}

HttpResponse LfsError(const HttpRequest& req, http::status status, std::string message) {
  return LfsJson(req, status, SerializeLfsErrorBody({std::move(message), "", ""}) + "\n");
}

HttpResponse LfsFailure(const HttpRequest& req, const Status& status, std::string message) {
  return MakeErrorResponse(req, status, SerializeLfsErrorBody({std::move(message), "", ""}) + "\n",
                           kLfsMediaType);
}

}  // namespace

LfsHttpHandler::LfsHttpHandler(Catalog& catalog, BlobStore& store,
                               boost::asio::thread_pool& blocking,
                               boost::asio::thread_pool& fetches, LfsPullThrough pull_through,
                               LfsHttpOptions options)
    : catalog_(catalog),
      store_(store),
      blocking_(blocking),
      fetches_(fetches),
      pull_through_(std::move(pull_through)),
      options_(std::move(options)) {}

bool LfsHttpHandler::Handles(const RepoPath& repo) {
  return repo.rest == kLfsPrefix || repo.rest.starts_with(std::string(kLfsPrefix) + "/");
}

RouteOptions LfsHttpHandler::RouteOptionsFor(const RepoPath& repo) {
  RouteOptions options;
  if (repo.rest == std::string(kLfsPrefix) + "/objects/batch") {
    options.body_limit = kLfsBatchBodyLimit;
  } else {
    options.body_limit = 0;
    options.read_body = false;
  }
  return options;
}

net::awaitable<void> LfsHttpHandler::Handle(HttpExchange& ex, const RepoPath& repo) {
  const HttpRequest& req = ex.request();
  const std::string_view rest = std::string_view(repo.rest).substr(kLfsPrefix.size());
  const http::verb method = req.method();

  auto found =
      co_await RunBlocking(blocking_, [this, &repo] { return catalog_.GetRepo(repo.name); });
  if (!found.ok() && found.status().code() != StatusCode::kNotFound) {
    MLOG(Error) << "lfs " << repo.name << ": " << found.status().ToString();
    co_return co_await ex.Respond(
        LfsFailure(req, found.status(), "the mirror's catalog failed; see mirrord's log"));
  }
  if (!found.ok()) {
    co_return co_await ex.Respond(LfsError(req, http::status::not_found,
                                           "repository " + repo.name + " is not mirrored here"));
  }
  const int64_t repo_id = found->id;

  if (rest == "/objects/batch") {
    if (method != http::verb::post) {
      HttpResponse res = LfsError(req, http::status::method_not_allowed, "use POST for batch");
      res.set(http::field::allow, "POST");
      co_return co_await ex.Respond(std::move(res));
    }
    co_return co_await ServeBatch(ex, repo, repo_id);
  }
  constexpr std::string_view kObjects = "/objects/";
  if (rest.starts_with(kObjects)) {
    std::string_view oid = rest.substr(kObjects.size());
    if (method == http::verb::put) {
      co_return co_await ex.Respond(
          LfsError(req, http::status::forbidden, std::string(kReadOnlyMessage)));
    }
    if (method != http::verb::get && method != http::verb::head) {
      HttpResponse res = LfsError(req, http::status::method_not_allowed, "use GET or HEAD");
      res.set(http::field::allow, "GET, HEAD");
      co_return co_await ex.Respond(std::move(res));
    }
    co_return co_await ServeObject(ex, repo, repo_id, oid);
  }
  if (rest == "/locks" || rest.starts_with("/locks/")) {
    // The git-lfs locking API: a server without it answers 404, and clients carry on.
    co_return co_await ex.Respond(
        LfsError(req, http::status::not_found, "file locking is not supported by this mirror"));
  }
  co_await ex.Respond(LfsError(req, http::status::not_found, "no such LFS endpoint"));
}

net::awaitable<void> LfsHttpHandler::ServeBatch(HttpExchange& ex, const RepoPath& repo,
                                                int64_t repo_id) {
  const HttpRequest& req = ex.request();
  using Lookup = BatchLookup;
  struct Work {
    Result<LfsBatchRequest> parsed = InvalidArgument("not parsed");
    Status lookups;    // the catalog's failure, if any
    std::string body;  // the serialised response, when parsed and looked up
  };
  // The href base comes from the request (Host, public_url): read here, on the exchange's
  // own thread.
  const std::string base = options_.base_url.For(ex) + "/" + repo.name + ".git/info/lfs/objects/";
  // A request a read token authorised (daemon/repo_read_gate.h) hands the same credentials
  // to its object downloads: git-lfs sends an action's header, and nothing else, with them.
  std::map<std::string, std::string> action_header;
  if (!ex.audit().token_name.empty()) {
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      action_header["Authorization"] = std::string(it->value());
    }
  }
  // Parsing (up to kLfsBatchBodyLimit of JSON), the lookups, building the response and
  // serialising it (up to kMaxLfsBatchRequestObjects entries) are blocking work: off the network
  // threads.
  Work work = co_await RunBlocking(blocking_, [&, this, repo_id]() {
    Work w;
    w.parsed = ParseLfsBatchRequest(req.body());
    if (!w.parsed.ok() || w.parsed->operation != "download") return w;
    Result<std::vector<Lookup>> lookups = [&]() -> Result<std::vector<Lookup>> {
      std::vector<Lookup> out;
      out.reserve(w.parsed->objects.size());
      for (const LfsBatchObjectRequest& o : w.parsed->objects) {
        Lookup l;
        ASSIGN_OR_RETURN(l.ref, catalog_.FindLfsRef(repo_id, o.oid));
        if (l.ref) {
          Result<LfsObjectRecord> rec = catalog_.GetLfsObject(o.oid);
          if (rec.ok()) l.object = std::move(*rec);
          l.present = store_.Contains(o.oid);
        }
        out.push_back(std::move(l));
      }
      return out;
    }();
    if (!lookups.ok()) {
      w.lookups = lookups.status();
      return w;
    }
    w.body = SerializeLfsBatchResponse(
                 BatchResponse(*w.parsed, *lookups, repo.name, base, action_header)) +
             "\n";
    return w;
  });
  Result<LfsBatchRequest>& parsed = work.parsed;
  if (!parsed.ok()) {
    const bool conflict = parsed.status().code() == StatusCode::kFailedPrecondition;
    co_return co_await ex.Respond(
        LfsError(req, conflict ? http::status::conflict : http::status::unprocessable_entity,
                 parsed.status().message()));
  }
  if (parsed->operation != "download") {
    co_return co_await ex.Respond(
        LfsError(req, http::status::forbidden, std::string(kReadOnlyMessage)));
  }
  if (!work.lookups.ok()) {
    MLOG(Error) << "lfs batch for " << repo.name << ": " << work.lookups.ToString();
    co_return co_await ex.Respond(
        LfsFailure(req, work.lookups, "the mirror's catalog failed; see mirrord's log"));
  }
  co_await ex.Respond(LfsJson(req, http::status::ok, std::move(work.body)));
}

LfsBatchResponse LfsHttpHandler::BatchResponse(
    const LfsBatchRequest& request, const std::vector<BatchLookup>& lookups,
    const std::string& repo_name, const std::string& href_base,
    const std::map<std::string, std::string>& header) const {
  LfsBatchResponse response;
  response.transfer = "basic";
  response.hash_algo = "sha256";
  response.objects.reserve(request.objects.size());
  for (size_t i = 0; i < request.objects.size(); ++i) {
    const LfsBatchObjectRequest& want = request.objects[i];
    const BatchLookup& l = lookups[i];
    LfsBatchObjectResponse out;
    out.oid = want.oid;
    out.size = want.size;
    if (!l.ref) {
      out.error = LfsObjectError{404, "object not referenced by " + repo_name + " on this mirror"};
    } else if (l.ref->size != want.size) {
      out.error = LfsObjectError{422, "size mismatch: the mirror has " +
                                          std::to_string(l.ref->size) + " bytes for this object"};
    } else if (!l.present && l.object && l.object->state == "failed" &&
               (l.object->error_code == 404 || l.object->error_code == 410)) {
      out.error = LfsObjectError{l.object->error_code,
                                 "the upstream does not have this object: " + l.object->error};
    } else if (!l.present && !pull_through_) {
      out.error = LfsObjectError{404, "object not mirrored yet"};
    } else {
      out.authenticated = true;
      LfsAction download;
      download.href = href_base + want.oid;
      download.expires_in = options_.href_lifetime_seconds;
      download.header = header;
      out.download = std::move(download);
    }
    response.objects.push_back(std::move(out));
  }
  return response;
}

net::awaitable<void> LfsHttpHandler::ServeObject(HttpExchange& ex, const RepoPath& repo,
                                                 int64_t repo_id, std::string_view oid_view) {
  const HttpRequest& req = ex.request();
  const std::string oid(oid_view);
  if (!IsValidLfsOid(oid)) {
    co_return co_await ex.Respond(
        LfsError(req, http::status::not_found, "not an LFS object id: expected 64 hex digits"));
  }
  auto ref = co_await RunBlocking(
      blocking_, [this, repo_id, &oid] { return catalog_.FindLfsRef(repo_id, oid); });
  if (!ref.ok()) {
    MLOG(Error) << "lfs object for " << repo.name << ": " << ref.status().ToString();
    co_return co_await ex.Respond(
        LfsFailure(req, ref.status(), "the mirror's catalog failed; see mirrord's log"));
  }
  if (!ref->has_value()) {
    co_return co_await ex.Respond(LfsError(
        req, http::status::not_found, "object not referenced by " + repo.name + " on this mirror"));
  }
  Result<UniqueFd> fd = store_.OpenObject(oid);
  if (!fd.ok() && fd.status().code() == StatusCode::kNotFound && pull_through_) {
    MLOG(Info) << "lfs " << repo.name << ": " << oid << " not in the store; fetching it for "
               << ex.peer();
    Status fetched = co_await RunBlocking(
        fetches_, [this, &repo, &ref] { return pull_through_(repo.name, **ref); });
    if (!fetched.ok()) {
      MLOG(Warning) << "lfs " << repo.name << ": pull-through of " << oid
                    << " failed: " << fetched.ToString();
      co_return co_await ex.Respond(LfsFailure(
          req, fetched, "fetching the object from upstream failed: " + fetched.message()));
    }
    fd = store_.OpenObject(oid);
  }
  if (!fd.ok()) {
    co_return co_await ex.Respond(LfsFailure(req, fd.status(), fd.status().message()));
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    co_return co_await ex.Respond(
        LfsError(req, http::status::internal_server_error, "cannot stat the stored object"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  http::response<http::empty_body> header;
  header.set(http::field::content_type, "application/octet-stream");
  header.set(http::field::etag, "\"" + oid + "\"");
  header.set(http::field::cache_control, "public, max-age=31536000, immutable");
  co_await SendRangedFile(ex, std::move(header), fd->get(), size, [&req] {
    return LfsError(req, http::status::range_not_satisfiable, "requested range not satisfiable");
  });
}

}  // namespace mirrord
