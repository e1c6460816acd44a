// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_api_handler.h"

#include <boost/json.hpp>
#include <charconv>
#include <utility>
#include <variant>
#include <vector>

#include "common/log.h"
#include "daemon/blocking.h"
#include "daemon/hf_error.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_revision.h"
#include "git/ref_publisher.h"

namespace mirrord {
namespace {

namespace net = boost::asio;
namespace json = boost::json;

bool QueryFlag(const std::map<std::string, std::string>& query, const std::string& key) {
  auto it = query.find(key);
  if (it == query.end()) return false;
  return it->second == "1" || it->second == "true" || it->second == "True" || it->second.empty();
}

HttpResponse JsonResponse(const HttpRequest& req, const json::value& value) {
  return MakeResponse(req, http::status::ok, json::serialize(value),
                      "application/json; charset=utf-8");
}

// The LFS facts of a file; the Hub names the oid "oid" in tree entries, "sha256" in siblings.
json::object LfsFacts(const TreeEntryInfo& e, std::string_view oid_key) {
  json::object lfs;
  lfs[oid_key] = e.lfs->oid;
  lfs["size"] = e.lfs->size;
  lfs["pointerSize"] = e.blob_size;
  return lfs;
}

// A tree entry as the Hub's tree and paths-info APIs write it.
json::object TreeEntryJson(const TreeEntryInfo& e) {
  json::object o;
  o["type"] = e.type == TreeEntryInfo::Type::kFile ? "file" : "directory";
  o["oid"] = e.oid;
  o["size"] = e.size();
  if (e.lfs) o["lfs"] = LfsFacts(e, "oid");
  o["path"] = e.path;
  return o;
}

// `paths` of a paths-info body: JSON {"paths": [...]} or form-encoded paths=...&paths=...
Result<std::vector<std::string>> PathsInfoPaths(const HttpRequest& req) {
  std::vector<std::string> out;
  const std::string_view body = req.body();
  const std::string_view type = req[http::field::content_type];
  if (type.starts_with("application/json")) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return InvalidArgument("the body is not a JSON object");
    const json::value* paths = v.as_object().if_contains("paths");
    if (paths == nullptr) return out;
    if (paths->is_string()) {
      out.emplace_back(paths->as_string());
      return out;
    }
    if (!paths->is_array()) return InvalidArgument("paths must be an array of strings");
    for (const json::value& p : paths->as_array()) {
      if (!p.is_string()) return InvalidArgument("paths must be an array of strings");
      out.emplace_back(p.as_string());
    }
    return out;
  }
  size_t start = 0;
  while (start < body.size()) {
    size_t amp = body.find('&', start);
    std::string_view pair =
        body.substr(start, amp == std::string_view::npos ? body.size() - start : amp - start);
    start = amp == std::string_view::npos ? body.size() : amp + 1;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != "paths") continue;
    std::string value(pair.substr(eq + 1));
    for (char& c : value) {
      if (c == '+') c = ' ';
    }
    ASSIGN_OR_RETURN(std::string decoded, HfPercentDecode(value));
    out.push_back(std::move(decoded));
  }
  return out;
}

}  // namespace

HfApiHandler::HfApiHandler(HfRepoLocator& locator, net::thread_pool& blocking, BaseUrl base_url)
    : locator_(locator), blocking_(blocking), base_url_(std::move(base_url)) {}

net::awaitable<void> HfApiHandler::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  Result<HfApiTarget> target = ParseHfApiTarget(req.target());
  if (!target.ok()) {
    co_return co_await ex.Respond(
        HfErrorResponse(req, HfFailure::BadRequest(target.status().message())));
  }
  const bool post = req.method() == http::verb::post;
  if (post != (target->kind == HfApiTarget::Kind::kPathsInfo)) {
    HttpResponse res = HfErrorResponse(
        req, HfFailure{http::status::method_not_allowed, "", "method not allowed", ""});
    res.set(http::field::allow, post ? "GET, HEAD" : "POST");
    co_return co_await ex.Respond(std::move(res));
  }
  const std::map<std::string, std::string>& query = ex.query();
  const std::string base = base_url_.For(ex);

  HttpResponse res = co_await RunBlocking(blocking_, [&]() -> HttpResponse {
    const HfApiTarget& t = *target;
    if (t.kind == HfApiTarget::Kind::kRefs) {
      Result<HfRepo> repo = locator_.Find(t.type, t.repo_id);
      if (!repo.ok()) {
        return HfErrorResponse(req, repo.status().code() == StatusCode::kNotFound
                                        ? HfFailure::RepoNotFound("Repository Not Found")
                                        : HfFailure::Internal("the mirror's catalog failed"));
      }
      Result<std::vector<PublishedRef>> refs = ReadPublishedRefs(repo->dir);
      if (!refs.ok()) return HfErrorResponse(req, HfFailure::Internal("cannot read refs"));
      json::array branches, tags, prs;
      for (const PublishedRef& r : *refs) {
        json::object o;
        o["ref"] = r.name;
        o["targetCommit"] = r.peeled.empty() ? r.oid : r.peeled;
        if (r.name.starts_with("refs/heads/")) {
          o["name"] = r.name.substr(11);
          branches.push_back(std::move(o));
        } else if (r.name.starts_with("refs/tags/")) {
          o["name"] = r.name.substr(10);
          tags.push_back(std::move(o));
        } else if (r.name.starts_with("refs/pr/")) {
          o["name"] = r.name.substr(5);
          prs.push_back(std::move(o));
        }
      }
      json::object out;
      out["branches"] = std::move(branches);
      out["converts"] = json::array();
      out["tags"] = std::move(tags);
      if (QueryFlag(query, "include_prs")) out["pullRequests"] = std::move(prs);
      return JsonResponse(req, out);
    }

    auto opened = OpenHfRevision(locator_, t.type, t.repo_id, t.revision);
    if (HfFailure* f = std::get_if<HfFailure>(&opened)) return HfErrorResponse(req, *f);
    HfRevisionView& view = std::get<HfRevisionView>(opened);
    const std::string& commit = view.commit.oid;
    auto read_failure = [&](const Status& s) {
      if (s.code() == StatusCode::kNotFound) {
        return HfErrorResponse(req, HfFailure::EntryNotFound("Entry not found", commit));
      }
      MLOG(Error) << "hf api " << view.repo.record.name << ": " << s.ToString();
      return HfErrorResponse(req, HfFailure::Internal("the mirror cannot be read"));
    };

    switch (t.kind) {
      case HfApiTarget::Kind::kInfo: {
        bool more = false;
        Result<std::vector<TreeEntryInfo>> entries =
            view.reader->List(commit, "", /*recursive=*/true, 0, kHfMaxSiblings, &more);
        if (!entries.ok()) return read_failure(entries.status());
        if (more) {
          return HfErrorResponse(
              req, HfFailure::Internal("the repository has more entries than this mirror lists"));
        }
        const bool blobs = QueryFlag(query, "blobs");
        json::array siblings;
        for (const TreeEntryInfo& e : *entries) {
          if (e.type != TreeEntryInfo::Type::kFile) continue;
          json::object s;
          s["rfilename"] = e.path;
          if (blobs) {
            s["blobId"] = e.oid;
            s["size"] = e.size();
            if (e.lfs) s["lfs"] = LfsFacts(e, "sha256");
          }
          siblings.push_back(std::move(s));
        }
        json::object out;
        out["_id"] = "mirrord-" + std::to_string(view.repo.record.id);
        out["id"] = t.repo_id;
        if (t.type == HfRepoType::kModel) out["modelId"] = t.repo_id;
        const size_t slash = t.repo_id.find('/');
        if (slash != std::string::npos) out["author"] = t.repo_id.substr(0, slash);
        out["sha"] = commit;
        out["lastModified"] = HfTimestamp(view.commit.commit_time);
        out["private"] = false;
        out["disabled"] = false;
        out["gated"] = false;
        out["downloads"] = 0;
        out["likes"] = 0;
        out["tags"] = json::array();
        out["siblings"] = std::move(siblings);
        return JsonResponse(req, out);
      }
      case HfApiTarget::Kind::kTree: {
        uint64_t offset = 0;
        if (auto it = query.find("cursor"); it != query.end()) {
          const std::string& c = it->second;
          auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), offset);
          if (ec != std::errc() || end != c.data() + c.size()) {
            return HfErrorResponse(req, HfFailure::BadRequest("invalid cursor"));
          }
        }
        const bool recursive = QueryFlag(query, "recursive");
        const bool expand = QueryFlag(query, "expand");
        uint64_t limit = kHfTreePageSize;
        if (auto it = query.find("limit"); it != query.end()) {
          uint64_t asked = 0;
          auto [end, ec] =
              std::from_chars(it->second.data(), it->second.data() + it->second.size(), asked);
          if (ec == std::errc() && end == it->second.data() + it->second.size() && asked > 0) {
            limit = std::min(asked, kHfTreePageSize);
          }
        }
        bool more = false;
        Result<std::vector<TreeEntryInfo>> entries =
            view.reader->List(commit, t.path, recursive, offset, limit, &more);
        if (!entries.ok()) return read_failure(entries.status());
        json::array out;
        for (const TreeEntryInfo& e : *entries) out.push_back(TreeEntryJson(e));
        HttpResponse page = JsonResponse(req, out);
        if (more) {
          std::string next = base + std::string(req.target().substr(0, req.target().find('?'))) +
                             "?recursive=" + (recursive ? "true" : "false") +
                             "&expand=" + (expand ? "true" : "false") +
                             "&limit=" + std::to_string(limit) +
                             "&cursor=" + std::to_string(offset + entries->size());
          page.set(http::field::link, "<" + next + ">; rel=\"next\"");
        }
        return page;
      }
      case HfApiTarget::Kind::kPathsInfo: {
        Result<std::vector<std::string>> paths = PathsInfoPaths(req);
        if (!paths.ok())
          return HfErrorResponse(req, HfFailure::BadRequest(paths.status().message()));
        if (paths->size() > kHfMaxPathsInfoPaths) {
          return HfErrorResponse(
              req, HfFailure::BadRequest("at most " + std::to_string(kHfMaxPathsInfoPaths) +
                                         " paths per request"));
        }
        json::array out;
        for (const std::string& p : *paths) {
          if (!IsValidTreePath(p)) continue;
          Result<TreeEntryInfo> e = view.reader->Stat(commit, p);
          if (e.ok()) {
            out.push_back(TreeEntryJson(*e));
          } else if (e.status().code() != StatusCode::kNotFound) {
            return read_failure(e.status());
          }
        }
        return JsonResponse(req, out);
      }
      case HfApiTarget::Kind::kRefs:
        break;
    }
    return HfErrorResponse(req, HfFailure::Internal("unreachable"));
  });
  co_await ex.Respond(std::move(res));
}

}  // namespace mirrord
