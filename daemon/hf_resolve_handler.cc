// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_resolve_handler.h"

#include <sys/stat.h>

#include <optional>
#include <utility>
#include <variant>

#include "common/log.h"
#include "daemon/blocking.h"
#include "daemon/hf_answer_cache.h"
#include "daemon/hf_error.h"
#include "daemon/hf_git_blob_stream.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_revision.h"
#include "daemon/ranged_response.h"

namespace mirrord {
namespace {

namespace net = boost::asio;

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "no-cache";

// What the blocking part found out about the requested file.
struct Lookup {
  std::optional<HfFailure> failure;
  std::string repo_name;
  std::string commit;
  bool pinned = false;
  TreeEntryInfo entry;
  std::optional<std::string> body;      // non-LFS GET of a small file: the blob
  std::filesystem::path repo_dir;       // non-LFS: the bare mirror (for a streamed body)
  bool in_store = false;                // LFS: the object is in the blob store
  std::optional<LfsRefRecord> lfs_ref;  // LFS: the catalog's reference, for pull-through
};

}  // namespace

HfResolveHandler::HfResolveHandler(HfRepoLocator& locator, Catalog& catalog, BlobStore& store,
                                   net::thread_pool& blocking, net::thread_pool& fetches,
                                   LfsPullThrough pull_through, std::filesystem::path git_home)
    : locator_(locator),
      catalog_(catalog),
      store_(store),
      blocking_(blocking),
      fetches_(fetches),
      pull_through_(std::move(pull_through)),
      git_home_(std::move(git_home)) {}

net::awaitable<void> HfResolveHandler::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  Result<HfResolveTarget> target = ParseHfResolveTarget(req.target());
  if (!target.ok()) {
    co_return co_await ex.Respond(
        HfErrorResponse(req, HfFailure::BadRequest(target.status().message())));
  }
  const bool head = req.method() == http::verb::head;
  HfAnswerCache& cache = locator_.cache();
  // Taken before any lookup: a revision resolved from refs a publication then replaced is
  // not stored (hf_answer_cache.h).
  const uint64_t generation = cache.generation();
  auto lookup = [&]() -> Lookup {
    Lookup out;
    auto opened = OpenHfRevision(locator_, target->type, target->repo_id, target->revision);
    if (HfFailure* f = std::get_if<HfFailure>(&opened)) {
      out.failure = std::move(*f);
      return out;
    }
    HfRevisionView& view = std::get<HfRevisionView>(opened);
    out.repo_name = view.repo.record.name;
    out.commit = view.commit.oid;
    out.pinned = view.pinned;
    cache.PutRevision(generation, target->type, target->repo_id, target->revision,
                      HfCachedRevision{view.repo.record.name, view.repo.dir, view.repo.record.id,
                                       view.commit.oid, view.commit.commit_time, view.pinned});
    Result<TreeEntryInfo> entry = view.reader->Stat(out.commit, target->path);
    if (!entry.ok() || entry->type != TreeEntryInfo::Type::kFile) {
      if (entry.ok() || entry.status().code() == StatusCode::kNotFound) {
        out.failure = HfFailure::EntryNotFound("Entry not found: " + target->path, out.commit);
      } else {
        MLOG(Error) << "hf " << out.repo_name << ": " << entry.status().ToString();
        out.failure = HfFailure::Internal("the mirror cannot be read; see mirrord's log");
      }
      return out;
    }
    out.entry = std::move(*entry);
    out.repo_dir = view.repo.dir;
    if (out.entry.lfs) {
      out.in_store = store_.Contains(out.entry.lfs->oid);
      if (out.in_store) {
        cache.PutFile(out.repo_name, out.commit, target->path,
                      HfCachedFile{out.entry, std::nullopt, true});
      } else {
        Result<std::optional<LfsRefRecord>> ref =
            catalog_.FindLfsRef(view.repo.record.id, out.entry.lfs->oid);
        if (ref.ok()) out.lfs_ref = std::move(*ref);
      }
      return out;
    }
    // HEAD: the size is known, no need for the bytes; a large file is streamed from git.
    if (head || out.entry.blob_size > kHfInMemoryGitFileBytes) {
      // Stored without the bytes: a large file streams from git; a small one's first GET
      // stores them.
      cache.PutFile(out.repo_name, out.commit, target->path,
                    HfCachedFile{out.entry, std::nullopt, false});
      return out;
    }
    Result<std::string> body = view.reader->ReadBlob(out.entry.oid, kHfInMemoryGitFileBytes);
    if (!body.ok()) {
      MLOG(Error) << "hf " << out.repo_name << ": " << body.status().ToString();
      out.failure = HfFailure::Internal("the file cannot be served: " + body.status().message());
      out.failure->commit = out.commit;
      return out;
    }
    out.body = std::move(*body);
    cache.PutFile(
        out.repo_name, out.commit, target->path,
        HfCachedFile{
            out.entry,
            out.entry.blob_size <= kHfCachedBodyBytes ? out.body : std::optional<std::string>(),
            false});
    return out;
  };

  // A repeated request is answered from memory, on this thread: the revision as resolved
  // within kHfRevisionTtl and since the last publication, and the file's entry at that
  // commit (with its bytes for a small plain file, or the knowledge that an LFS object is
  // in the store).
  Lookup l;
  bool from_cache = false;
  if (std::optional<HfCachedRevision> rev =
          cache.FindRevision(target->type, target->repo_id, target->revision)) {
    if (std::shared_ptr<const HfCachedFile> file =
            cache.FindFile(rev->repo_name, rev->commit, target->path)) {
      const bool plain_ok = head || file->body || file->entry.blob_size > kHfInMemoryGitFileBytes;
      if (file->entry.lfs ? file->in_store : plain_ok) {
        from_cache = true;
        l.repo_name = rev->repo_name;
        l.commit = rev->commit;
        l.pinned = rev->pinned;
        l.entry = file->entry;
        l.repo_dir = rev->repo_dir;
        l.in_store = file->in_store;
        if (!head && file->body) l.body = *file->body;
      }
    }
  }
  if (!from_cache) l = co_await RunBlocking(blocking_, lookup);
  if (l.failure) co_return co_await ex.Respond(HfErrorResponse(req, *l.failure));

  http::response<http::empty_body> header;
  header.version(req.version());
  // An HTTP/1.0 client asking for keep-alive (ab, some proxies) keeps its connection.
  header.keep_alive(req.keep_alive());
  header.set(http::field::content_type, "application/octet-stream");
  header.set("X-Repo-Commit", l.commit);
  header.set(http::field::cache_control, l.pinned ? kImmutable : kRevalidate);
  auto range_error = [&req, &l] {
    HfFailure f{http::status::range_not_satisfiable, "", "requested range not satisfiable",
                l.commit};
    return HfErrorResponse(req, f);
  };

  if (!l.entry.lfs) {
    header.set(http::field::etag, "\"" + l.entry.oid + "\"");
    if (l.body) {
      co_return co_await SendRangedBytes(ex, std::move(header), std::move(*l.body), range_error);
    }
    // HEAD (answered from the size alone), or a file too large to hold: streamed from git.
    GitBlobSource source{l.repo_dir, l.entry.oid, l.entry.blob_size, git_home_, "git"};
    const std::string commit = l.commit;
    auto busy = [&req, &commit] {
      HfFailure f{http::status::service_unavailable, "",
                  "too many downloads of large files right now; retry shortly", commit};
      HttpResponse res = HfErrorResponse(req, f);
      res.set(http::field::retry_after, "1");
      return res;
    };
    auto failed = [&req, &commit] {
      HfFailure f = HfFailure::Internal("the file cannot be read from the mirror");
      f.commit = commit;
      return HfErrorResponse(req, f);
    };
    co_return co_await SendGitBlob(ex, std::move(header), source, git_streams_, range_error, busy,
                                   failed);
  }

  const LfsPointer& pointer = *l.entry.lfs;
  const std::string etag = "\"" + pointer.oid + "\"";
  header.set(http::field::etag, etag);
  header.set("X-Linked-Etag", etag);
  header.set("X-Linked-Size", std::to_string(pointer.size));
  if (head && (l.in_store || (pull_through_ && l.lfs_ref))) {
    // The pointer knows size and hash: a HEAD neither opens nor hashes the object, and
    // (huggingface_hub gives it 10 s) never waits for a pull-through download; the GET that
    // follows fetches a missing object.
    co_return co_await SendRangedHead(ex, std::move(header), pointer.size, range_error);
  }
  Result<UniqueFd> fd = store_.OpenObject(pointer.oid);
  if (!fd.ok() && fd.status().code() == StatusCode::kNotFound && from_cache && pull_through_) {
    // The object left the store since it was cached: the catalog's reference is needed
    // for the pull-through.
    Lookup fresh = co_await RunBlocking(blocking_, lookup);
    if (fresh.failure) co_return co_await ex.Respond(HfErrorResponse(req, *fresh.failure));
    if (fresh.entry.lfs && fresh.entry.lfs->oid == pointer.oid) {
      l.lfs_ref = std::move(fresh.lfs_ref);
      fd = store_.OpenObject(pointer.oid);
    }
  }
  if (!fd.ok() && fd.status().code() == StatusCode::kNotFound && pull_through_ && l.lfs_ref) {
    MLOG(Info) << "hf " << l.repo_name << ": " << pointer.oid
               << " not in the store; fetching it for " << ex.peer();
    const LfsRefRecord ref = *l.lfs_ref;
    const std::string name = l.repo_name;
    Status fetched =
        co_await RunBlocking(fetches_, [this, &name, &ref] { return pull_through_(name, ref); });
    if (!fetched.ok()) {
      MLOG(Warning) << "hf " << l.repo_name << ": pull-through of " << pointer.oid
                    << " failed: " << fetched.ToString();
      HfFailure f{http::status::bad_gateway, "",
                  "fetching the file from upstream failed: " + fetched.message(), l.commit};
      co_return co_await ex.Respond(HfErrorResponse(req, f));
    }
    fd = store_.OpenObject(pointer.oid);
  }
  if (!fd.ok()) {
    if (fd.status().code() == StatusCode::kNotFound) {
      co_return co_await ex.Respond(HfErrorResponse(
          req, HfFailure::EntryNotFound(
                   "the LFS object of " + l.entry.path + " is not mirrored here yet", l.commit)));
    }
    MLOG(Error) << "hf " << l.repo_name << ": " << fd.status().ToString();
    co_return co_await ex.Respond(
        HfErrorResponse(req, HfFailure::Internal("the stored object cannot be opened")));
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || static_cast<uint64_t>(st.st_size) != pointer.size) {
    MLOG(Error) << "hf " << l.repo_name << ": stored object " << pointer.oid
                << " is not the pointer's size";
    co_return co_await ex.Respond(
        HfErrorResponse(req, HfFailure::Internal("the stored object cannot be served")));
  }
  co_await SendRangedFile(ex, std::move(header), fd->get(), pointer.size, range_error);
}

}  // namespace mirrord
