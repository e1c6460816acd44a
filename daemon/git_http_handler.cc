// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224);
// the frame's allocation and deallocation functions do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/git_http_handler.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <zlib.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <mutex>

#include "common/log.h"
#include "git/upload_pack_process.h"
#include "git/upload_pack_request.h"

namespace mirrord {

namespace net = boost::asio;
using namespace net::experimental::awaitable_operators;

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr std::string_view kAdvertisementType = "application/x-git-upload-pack-advertisement";
constexpr std::string_view kResultType = "application/x-git-upload-pack-result";
constexpr std::string_view kRequestType = "application/x-git-upload-pack-request";
constexpr std::string_view kMalformedRequest =
    "malformed upload-pack request: expected pkt-lines starting with \"want \" or "
    "\"command=\"";
constexpr std::string_view kServiceAdvertisementPrefix = "001e# service=git-upload-pack\n0000";
constexpr size_t kInflateChunk = 64 * 1024;

void SetNoCache(http::fields& fields) {
  fields.set(http::field::cache_control, "no-cache, max-age=0, must-revalidate");
  fields.set(http::field::pragma, "no-cache");
  fields.set(http::field::expires, "Fri, 01 Jan 1980 00:00:00 GMT");
}

net::awaitable<void> RespondText(HttpExchange& ex, http::status status, std::string body) {
  co_await ex.Respond(MakeResponse(ex.request(), status, std::move(body)));
}

net::awaitable<void> RespondNotAllowed(HttpExchange& ex, std::string_view allow) {
  HttpResponse res =
      MakeResponse(ex.request(), http::status::method_not_allowed, "method not allowed\n");
  res.set(http::field::allow, allow);
  co_await ex.Respond(std::move(res));
}

// Streaming gzip (or zlib) decompression of one request body.
// Thread-safety: single owner.
class Inflater {
 public:
  explicit Inflater(std::string_view input) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    zs_.avail_in = static_cast<uInt>(input.size());
    ok_ = inflateInit2(&zs_, 15 + 32) == Z_OK;  // 32: accept gzip and zlib headers
  }
  ~Inflater() {
    if (ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates the next piece into `out` (resized to what was produced). Returns false at
  // the end of the input; InvalidArgument for corrupt or truncated data.
  Result<bool> Next(std::string& out) {
    if (!ok_) return Internal("inflateInit2 failed");
    if (done_) return false;
    out.resize(kInflateChunk);
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&zs_, Z_NO_FLUSH);
    out.resize(out.size() - zs_.avail_out);
    if (rc == Z_STREAM_END) {
      if (zs_.avail_in == 0) {
        done_ = true;
      } else if (inflateReset(&zs_) != Z_OK) {  // concatenated gzip members
        return InvalidArgument("corrupt gzip request body");
      }
      return true;
    }
    if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && out.empty()) {
      return InvalidArgument("truncated gzip request body");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return InvalidArgument("corrupt gzip request body");
    return true;
  }

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool done_ = false;
};

// A failure of ours (not the client's) as HttpErrorFor should map it: a missing git binary
// or repository is a broken server (500), never a 404 for the client.
Status ServerFailure(const Status& s) {
  if (s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument) {
    return Internal(s.message());
  }
  return s;
}

http::status StatusForInput(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted ? http::status::payload_too_large
                                                    : http::status::bad_request;
}

}  // namespace

Status RepoDiskFull(const std::filesystem::path& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return Status::Ok();
  // git needs a little room for its temporaries (a shallow file, a pack's index).
  constexpr uint64_t kMinFreeBytes = 1 << 20;
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < kMinFreeBytes) return ErrnoStatus(ENOSPC, "file system of " + dir.string());
  if (vfs.f_files > 0 && vfs.f_favail == 0) return ErrnoStatus(ENOSPC, "inodes of " + dir.string());
  return Status::Ok();
}

GitHttpHandler::GitHttpHandler(RepoDirResolver resolver, GitHttpOptions options)
    : resolver_(std::move(resolver)), options_(std::move(options)) {
  if (!options_.disk_full) options_.disk_full = RepoDiskFull;
  // Writing to a git that has exited must be an EPIPE error, not a process-killing signal.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
}

net::awaitable<void> GitHttpHandler::Handle(HttpExchange& ex, const RepoPath& repo) const {
  const std::string& rest = repo.rest;
  const http::verb method = ex.request().method();

  if (rest == "/info/lfs" || rest.starts_with("/info/lfs/")) {
    if (lfs_handler_) {
      co_await lfs_handler_(ex, repo);
    } else {
      co_await RespondText(ex, http::status::not_found, "not found\n");
    }
    co_return;
  }

  std::string_view service;
  if (auto it = ex.query().find("service"); it != ex.query().end()) service = it->second;
  if (rest == "/git-receive-pack" || (rest == "/info/refs" && service == "git-receive-pack")) {
    co_await RespondText(ex, http::status::forbidden, std::string(kReadOnlyMirrorMessage));
    co_return;
  }

  if (rest == "/info/refs") {
    if (method != http::verb::get && method != http::verb::head) {
      co_await RespondNotAllowed(ex, "GET, HEAD");
      co_return;
    }
    if (service.empty()) {
      co_await RespondText(ex, http::status::not_found,
                           "mirrord serves git smart HTTP only; dumb HTTP is not supported\n");
      co_return;
    }
    if (service != "git-upload-pack") {
      co_await RespondText(ex, http::status::bad_request, "unsupported service\n");
      co_return;
    }
    std::optional<std::filesystem::path> dir = resolver_(repo.name);
    if (!dir) {
      co_await RespondText(ex, http::status::not_found, "repository not found\n");
      co_return;
    }
    co_await ServeInfoRefs(ex, repo, *dir);
    co_return;
  }

  if (rest == "/git-upload-pack") {
    if (method != http::verb::post) {
      co_await RespondNotAllowed(ex, "POST");
      co_return;
    }
    std::optional<std::filesystem::path> dir = resolver_(repo.name);
    if (!dir) {
      co_await RespondText(ex, http::status::not_found, "repository not found\n");
      co_return;
    }
    co_await ServeUploadPack(ex, repo, *dir);
    co_return;
  }

  co_await RespondText(ex, http::status::not_found, "not found\n");
}

net::awaitable<void> GitHttpHandler::ServeInfoRefs(HttpExchange& ex, const RepoPath& repo,
                                                   const std::filesystem::path& dir) const {
  if (ex.request().method() == http::verb::head) {
    http::response<http::empty_body> header(http::status::ok, ex.request().version());
    header.set(http::field::content_type, kAdvertisementType);
    SetNoCache(header.base());
    if (co_await ex.BeginStream(std::move(header))) co_await ex.EndStream();
    co_return;
  }
  // Protocol v2 starts with its own capability advertisement, without the service line.
  // (A named local: GCC 12 double-destroys temporaries of a ?: inside co_await.)
  std::string prefix;
  if (!RequestsGitProtocolV2(ex.request()["Git-Protocol"])) prefix = kServiceAdvertisementPrefix;
  co_await RunUploadPack(ex, repo, dir, /*advertise=*/true, kAdvertisementType, std::move(prefix),
                         /*gzip_body=*/false);
}

net::awaitable<void> GitHttpHandler::ServeUploadPack(HttpExchange& ex, const RepoPath& repo,
                                                     const std::filesystem::path& dir) const {
  const HttpRequest& req = ex.request();
  std::string_view type = req[http::field::content_type];
  if (!type.empty() && !boost::beast::iequals(type, kRequestType)) {
    co_await RespondText(ex, http::status::unsupported_media_type,
                         "expected Content-Type: application/x-git-upload-pack-request\n");
    co_return;
  }
  std::string_view encoding = req[http::field::content_encoding];
  bool gzip = false;
  if (boost::beast::iequals(encoding, "gzip") || boost::beast::iequals(encoding, "x-gzip")) {
    gzip = true;
  } else if (!encoding.empty() && !boost::beast::iequals(encoding, "identity")) {
    co_await RespondText(ex, http::status::unsupported_media_type,
                         "unsupported Content-Encoding (gzip or none)\n");
    co_return;
  }
  if (!gzip) {
    // Garbage is the client's error: answer it here rather than let git fail on it, which
    // would look like (and be counted as) a server error. gzip bodies are checked as they
    // are inflated.
    UploadPackRequestShape shape;
    shape.Feed(req.body());
    if (!shape.CompleteAndValid()) {
      MLOG(Info) << "git-http " << repo.name << ": malformed upload-pack request from "
                 << ex.peer();
      co_await RespondText(ex, http::status::bad_request, std::string(kMalformedRequest) + "\n");
      co_return;
    }
  }
  co_await RunUploadPack(ex, repo, dir, /*advertise=*/false, kResultType, std::string(), gzip);
}

net::awaitable<void> GitHttpHandler::RunUploadPack(HttpExchange& ex, const RepoPath& repo,
                                                   const std::filesystem::path& dir, bool advertise,
                                                   std::string_view content_type,
                                                   std::string prefix, bool gzip_body) const {
  UploadPackOptions po;
  po.repo_dir = dir;
  po.advertise_refs = advertise;
  po.home = options_.git_home;
  po.git_binary = options_.git_binary;
  if (options_.allow_filter) po.config.push_back("uploadpack.allowFilter=true");
  std::string_view protocol = ex.request()["Git-Protocol"];
  if (IsSafeGitProtocol(protocol)) {
    po.git_protocol = std::string(protocol);
  } else if (!protocol.empty()) {
    MLOG(Debug) << "git-http " << repo.name << ": ignoring unsafe Git-Protocol header";
  }
  const char* what = advertise ? "git upload-pack --advertise-refs" : "git upload-pack";

  Result<UploadPackProcess> spawned = UploadPackProcess::Spawn(po);
  if (!spawned.ok()) {
    MLOG(Error) << "git-http " << repo.name << ": " << spawned.error().ToString();
    co_await ex.Respond(MakeErrorResponse(ex.request(), ServerFailure(spawned.error()),
                                          "git upload-pack could not be started\n"));
    co_return;
  }
  UploadPackProcess& proc = *spawned;
  auto executor = co_await net::this_coro::executor;
  net::posix::stream_descriptor child_in(executor, proc.TakeStdin().release());
  net::posix::stream_descriptor child_out(executor, proc.TakeStdout().release());
  net::posix::stream_descriptor child_err(executor, proc.TakeStderr().release());

  bool header_sent = false;
  bool client_gone = false;
  bool killed = false;
  Status input_status;
  std::string stderr_text;
  auto kill = [&] {
    if (!killed) {
      killed = true;
      proc.Kill(SIGKILL);
    }
  };

  // Request body -> git's stdin, inflating gzip as it goes.
  auto feed = [&]() -> net::awaitable<void> {
    const std::string& body = ex.request().body();
    if (!gzip_body) {
      if (!body.empty()) {
        // An error here means git stopped reading (it exited or was killed); its exit
        // status tells the story.
        co_await net::async_write(child_in, net::buffer(body), kNoThrow);
      }
    } else {
      Inflater inflater(body);
      UploadPackRequestShape shape;
      std::string piece;
      uint64_t total = 0;
      for (;;) {
        Result<bool> more = inflater.Next(piece);
        if (!more.ok()) {
          input_status = more.error();
          break;
        }
        if (!*more) {
          if (!shape.CompleteAndValid())
            input_status = InvalidArgument(std::string(kMalformedRequest));
          break;
        }
        if (!shape.Feed(piece)) {
          input_status = InvalidArgument(std::string(kMalformedRequest));
          break;
        }
        total += piece.size();
        if (total > options_.max_inflated_request_bytes) {
          input_status =
              ResourceExhausted("inflated request body exceeds " +
                                std::to_string(options_.max_inflated_request_bytes) + " bytes");
          break;
        }
        if (piece.empty()) continue;
        auto [ec, n] = co_await net::async_write(child_in, net::buffer(piece), kNoThrow);
        if (ec) break;
      }
    }
    boost::system::error_code ignored;
    child_in.close(ignored);  // EOF for git
    if (!input_status.ok()) kill();
  };

  // git's stdout -> the client, one chunk in flight at a time.
  auto pump = [&]() -> net::awaitable<void> {
    std::string buf(options_.chunk_bytes, '\0');
    for (;;) {
      auto [ec, n] = co_await child_out.async_read_some(net::buffer(buf), kNoThrow);
      if (ec) break;  // EOF: git is done (or was killed)
      std::string_view data(buf.data(), n);
      std::string first;
      if (!header_sent) {
        if (!input_status.ok()) break;
        header_sent = true;
        http::response<http::empty_body> header(http::status::ok, ex.request().version());
        header.set(http::field::content_type, content_type);
        SetNoCache(header.base());
        if (!co_await ex.BeginStream(std::move(header))) {
          client_gone = true;
          kill();
          break;
        }
        if (!prefix.empty()) {
          first = prefix;
          first.append(data);
          data = first;
        }
      }
      if (!co_await ex.Write(data)) {
        client_gone = true;
        kill();
        break;
      }
    }
    boost::system::error_code ignored;
    child_out.close(ignored);
  };

  // git's stderr -> a bounded buffer for the log.
  auto drain = [&]() -> net::awaitable<void> {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await child_err.async_read_some(net::buffer(buf), kNoThrow);
      if (ec) break;
      size_t keep = std::min(n, options_.stderr_capture_bytes -
                                    std::min(options_.stderr_capture_bytes, stderr_text.size()));
      stderr_text.append(buf, keep);
    }
    boost::system::error_code ignored;
    child_err.close(ignored);
  };

  co_await (feed() && pump() && drain());

  // Reap without blocking the strand: git exits right after closing its pipes, so poll
  // with a short backoff; kill it if it lingers past the grace period.
  net::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + options_.exit_grace;
  auto delay = std::chrono::milliseconds(1);
  std::optional<ExitStatus> exit_status;
  while (!(exit_status = proc.TryWait())) {
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      MLOG(Warning) << "git-http " << repo.name << ": " << what
                    << " did not exit after closing its output; killing it";
      kill();
    }
    timer.expires_after(delay);
    co_await timer.async_wait(kNoThrow);
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }

  if (client_gone) {
    MLOG(Info) << "git-http " << repo.name << ": client " << ex.peer() << " went away; stopped "
               << what;
    ex.Abort();
    co_return;
  }
  if (!input_status.ok()) {
    MLOG(Warning) << "git-http " << repo.name << ": bad request body from " << ex.peer() << ": "
                  << input_status.message();
    if (header_sent) {
      ex.Abort();
    } else {
      co_await RespondText(ex, StatusForInput(input_status), input_status.message() + "\n");
    }
    co_return;
  }
  if (!exit_status->success()) {
    MLOG(Warning) << "git-http " << repo.name << ": " << what << " failed ("
                  << exit_status->ToString() << "): " << stderr_text;
    if (header_sent) {
      ex.Abort();
    } else {
      Status failure = options_.disk_full ? options_.disk_full(dir) : Status::Ok();
      if (failure.ok()) failure = Internal(std::string(what) + " failed");
      co_await ex.Respond(MakeErrorResponse(ex.request(), failure, "git upload-pack failed\n"));
    }
    co_return;
  }
  if (header_sent) {
    co_await ex.EndStream();
    co_return;
  }
  // git succeeded without output (e.g. an empty request): answer with the prefix alone.
  HttpResponse res = MakeResponse(ex.request(), http::status::ok, std::move(prefix), content_type);
  SetNoCache(res.base());
  co_await ex.Respond(std::move(res));
}

}  // namespace mirrord
