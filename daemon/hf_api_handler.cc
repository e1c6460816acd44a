// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_api_handler.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "common/log.h"
#include "daemon/blocking.h"
#include "daemon/hf_answer_cache.h"
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

// The request parameters that shape a tree page.
struct TreeQuery {
  uint64_t offset = 0;
  uint64_t limit = kHfTreePageSize;
  bool recursive = false;
  bool expand = false;
};

Result<TreeQuery> ParseTreeQuery(const std::map<std::string, std::string>& query) {
  TreeQuery q;
  if (auto it = query.find("cursor"); it != query.end()) {
    const std::string& c = it->second;
    auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), q.offset);
    if (ec != std::errc() || end != c.data() + c.size()) return InvalidArgument("invalid cursor");
  }
  q.recursive = QueryFlag(query, "recursive");
  q.expand = QueryFlag(query, "expand");
  if (auto it = query.find("limit"); it != query.end()) {
    uint64_t asked = 0;
    auto [end, ec] =
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), asked);
    if (ec == std::errc() && end == it->second.data() + it->second.size() && asked > 0) {
      q.limit = std::min(asked, kHfTreePageSize);
    }
  }
  return q;
}

// What distinguishes one cached API answer from another at the same commit. `expand` only
// shapes the Link, which is written per request.
std::string AnswerShape(const HfApiTarget& t, const TreeQuery& q, bool blobs) {
  // Fields separated by NUL, which none of them can contain.
  std::string shape;
  auto field = [&shape](std::string_view f) {
    shape.append(f);
    shape.push_back('\0');
  };
  if (t.kind == HfApiTarget::Kind::kInfo) {
    field("info");
    field(t.repo_id);
    field(blobs ? "blobs" : "-");
    return shape;
  }
  field("tree");
  field(t.path);
  field(q.recursive ? "recursive" : "-");
  field(std::to_string(q.offset));
  field(std::to_string(q.limit));
  return shape;
}

// A page as answered, with its Link to the next one (`next` is the next cursor; 0: none).
HttpResponse PageResponse(const HttpRequest& req, const std::string& base, const TreeQuery& q,
                          std::string body, uint64_t next) {
  HttpResponse page =
      MakeResponse(req, http::status::ok, std::move(body), "application/json; charset=utf-8");
  if (next != 0) {
    std::string link = base + std::string(req.target().substr(0, req.target().find('?'))) +
                       "?recursive=" + (q.recursive ? "true" : "false") +
                       "&expand=" + (q.expand ? "true" : "false") +
                       "&limit=" + std::to_string(q.limit) + "&cursor=" + std::to_string(next);
    page.set(http::field::link, "<" + link + ">; rel=\"next\"");
  }
  return page;
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
  TreeQuery tree_query;
  if (target->kind == HfApiTarget::Kind::kTree) {
    Result<TreeQuery> q = ParseTreeQuery(query);
    if (!q.ok()) {
      co_return co_await ex.Respond(
          HfErrorResponse(req, HfFailure::BadRequest(q.status().message())));
    }
    tree_query = *q;
  }
  const bool blobs = QueryFlag(query, "blobs");
  HfAnswerCache& cache = locator_.cache();
  const uint64_t generation = cache.generation();  // before any lookup (hf_answer_cache.h)
  const bool cacheable =
      target->kind == HfApiTarget::Kind::kTree || target->kind == HfApiTarget::Kind::kInfo;
  const std::string shape = cacheable ? AnswerShape(*target, tree_query, blobs) : "";

  // A repeated listing or info request is answered from memory, on this thread.
  if (cacheable) {
    if (std::optional<HfCachedRevision> rev =
            cache.FindRevision(target->type, target->repo_id, target->revision)) {
      if (std::shared_ptr<const HfCachedPage> page =
              cache.FindPage(rev->repo_name, rev->commit, shape)) {
        co_return co_await ex.Respond(PageResponse(req, base, tree_query, page->body, page->next));
      }
    }
  }

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
    cache.PutRevision(generation, t.type, t.repo_id, t.revision,
                      HfCachedRevision{view.repo.record.name, view.repo.dir, view.repo.record.id,
                                       commit, view.commit.commit_time, view.pinned});
    // The answer, stored under the commit it was read from.
    auto answer = [&](std::string body, uint64_t next) {
      cache.PutPage(view.repo.record.name, commit, shape, HfCachedPage{body, next});
      return PageResponse(req, base, tree_query, std::move(body), next);
    };
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
        return answer(json::serialize(out), 0);
      }
      case HfApiTarget::Kind::kTree: {
        const TreeQuery& q = tree_query;
        bool more = false;
        Result<std::vector<TreeEntryInfo>> entries =
            view.reader->List(commit, t.path, q.recursive, q.offset, q.limit, &more);
        if (!entries.ok()) return read_failure(entries.status());
        json::array out;
        for (const TreeEntryInfo& e : *entries) out.push_back(TreeEntryJson(e));
        const uint64_t next = more ? q.offset + entries->size() : 0;
        // A page past the end is answered, not stored: cursors cost a client nothing.
        if (entries->empty()) return PageResponse(req, base, q, json::serialize(out), next);
        return answer(json::serialize(out), next);
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
