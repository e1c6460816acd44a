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
  Lookup l = co_await RunBlocking(blocking_, [&]() -> Lookup {
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
      if (!out.in_store) {
        Result<std::optional<LfsRefRecord>> ref =
            catalog_.FindLfsRef(view.repo.record.id, out.entry.lfs->oid);
        if (ref.ok()) out.lfs_ref = std::move(*ref);
      }
      return out;
    }
    // HEAD: the size is known, no need for the bytes; a large file is streamed from git.
    if (head || out.entry.blob_size > kHfInMemoryGitFileBytes) return out;
    Result<std::string> body = view.reader->ReadBlob(out.entry.oid, kHfInMemoryGitFileBytes);
    if (!body.ok()) {
      MLOG(Error) << "hf " << out.repo_name << ": " << body.status().ToString();
      out.failure = HfFailure::Internal("the file cannot be served: " + body.status().message());
      out.failure->commit = out.commit;
      return out;
    }
    out.body = std::move(*body);
    return out;
  });
  if (l.failure) co_return co_await ex.Respond(HfErrorResponse(req, *l.failure));

  http::response<http::empty_body> header;
  header.version(req.version());
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
