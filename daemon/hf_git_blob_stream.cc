// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/hf_git_blob_stream.h"

#include <signal.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <utility>

#include "common/log.h"
#include "git/upload_pack_process.h"
#include "lfs/http_range.h"

namespace mirrord {
namespace {

namespace net = boost::asio;
constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr size_t kStderrCapture = 4096;
// git exits right after closing its output; one that lingers this long is killed.
constexpr std::chrono::seconds kExitGrace{5};

}  // namespace

bool GitBlobStreams::TryAcquire() {
  int now = in_use_.load();
  while (now < limit_) {
    if (in_use_.compare_exchange_weak(now, now + 1)) return true;
  }
  return false;
}

void GitBlobStreams::Release() { in_use_.fetch_sub(1); }

net::awaitable<void> SendGitBlob(HttpExchange& ex, http::response<http::empty_body> header,
                                 const GitBlobSource& source, GitBlobStreams& streams,
                                 const RangeErrorFactory& range_error,
                                 const std::function<HttpResponse()>& busy,
                                 const std::function<HttpResponse()>& failed) {
  const HttpRangeSelection range = SelectHttpRange(ex.request()[http::field::range], source.size);
  if (range.kind == HttpRangeSelection::Kind::kUnsatisfiable) {
    HttpResponse res = range_error();
    res.result(http::status::range_not_satisfiable);
    res.set(http::field::content_range, UnsatisfiedContentRangeHeader(source.size));
    co_return co_await ex.Respond(std::move(res));
  }
  uint64_t begin = 0;
  uint64_t end = source.size;
  header.set(http::field::accept_ranges, "bytes");
  if (range.kind == HttpRangeSelection::Kind::kPartial) {
    begin = range.begin;
    end = range.end;
    header.result(http::status::partial_content);
    header.set(http::field::content_range, ContentRangeHeader(begin, end, source.size));
  } else {
    header.result(http::status::ok);
  }
  if (ex.request().method() == http::verb::head || begin == end) {
    // The size is known: no git for a HEAD (or an empty body).
    HttpResponse res(std::move(header));
    res.content_length(end - begin);
    co_return co_await ex.Respond(std::move(res));
  }
  if (!streams.TryAcquire()) {
    MLOG(Warning) << "hf: " << kHfMaxGitBlobStreams << " plain-file downloads already running; "
                  << ex.peer() << " told to retry";
    co_return co_await ex.Respond(busy());
  }
  struct Slot {
    GitBlobStreams& s;
    ~Slot() { s.Release(); }
  } slot{streams};

  UploadPackOptions po;
  po.home = source.git_home;
  po.git_binary = source.git_binary;
  Result<UploadPackProcess> spawned = UploadPackProcess::SpawnGit(
      po, {"--git-dir=" + source.repo_dir.string(), "cat-file", "blob", source.oid});
  if (!spawned.ok()) {
    MLOG(Error) << "hf: git cat-file for " << source.oid << ": " << spawned.status().ToString();
    co_return co_await ex.Respond(failed());
  }
  UploadPackProcess& proc = *spawned;
  proc.TakeStdin().reset();  // EOF: cat-file reads nothing
  auto executor = co_await net::this_coro::executor;
  net::posix::stream_descriptor child_out(executor, proc.TakeStdout().release());
  net::posix::stream_descriptor child_err(executor, proc.TakeStderr().release());

  bool started = false;
  bool client_gone = false;
  bool killed = false;
  uint64_t skip = begin;
  uint64_t left = end - begin;
  uint64_t extra = 0;  // bytes git sent past the blob's size: never expected
  std::string stderr_text;
  auto kill = [&] {
    if (!killed) {
      killed = true;
      proc.Kill(SIGKILL);
    }
  };

  auto pump = [&]() -> net::awaitable<void> {
    std::string buf(kHfGitBlobChunk, '\0');
    for (;;) {
      auto [ec, n] = co_await child_out.async_read_some(net::buffer(buf), kNoThrow);
      if (ec) break;  // EOF: git is done (or was killed)
      std::string_view data(buf.data(), n);
      const uint64_t dropped = std::min<uint64_t>(skip, data.size());
      skip -= dropped;
      data.remove_prefix(dropped);
      if (data.size() > left) {
        if (end == source.size) extra += data.size() - left;
        data = data.substr(0, left);
      }
      if (data.empty()) {
        if (extra > 0) break;
        continue;
      }
      if (!started) {
        started = true;
        if (!co_await ex.BeginSizedStream(std::move(header), end - begin)) {
          client_gone = true;
          break;
        }
      }
      if (!co_await ex.Write(data)) {
        client_gone = true;
        break;
      }
      left -= data.size();
      // A range that ends before the blob does: the rest is not needed.
      if (left == 0 && end < source.size) break;
    }
    if (client_gone || left == 0 || extra > 0) kill();
    boost::system::error_code ignored;
    child_out.close(ignored);
  };
  auto drain = [&]() -> net::awaitable<void> {
    char buf[1024];
    for (;;) {
      auto [ec, n] = co_await child_err.async_read_some(net::buffer(buf), kNoThrow);
      if (ec) break;
      stderr_text.append(
          buf, std::min(n, kStderrCapture - std::min(kStderrCapture, stderr_text.size())));
    }
    boost::system::error_code ignored;
    child_err.close(ignored);
  };
  using namespace net::experimental::awaitable_operators;
  co_await (pump() && drain());

  // Reap without blocking the strand (git has closed or lost its pipes by now).
  net::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + kExitGrace;
  auto delay = std::chrono::milliseconds(1);
  std::optional<ExitStatus> exit_status;
  while (!(exit_status = proc.TryWait())) {
    if (std::chrono::steady_clock::now() >= deadline) kill();
    timer.expires_after(delay);
    co_await timer.async_wait(kNoThrow);
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }

  if (client_gone) {
    MLOG(Info) << "hf: client " << ex.peer() << " went away during blob " << source.oid;
    ex.Abort();
    co_return;
  }
  const bool git_failed = !killed && !exit_status->success();
  if (left > 0 || extra > 0 || git_failed) {
    MLOG(Error) << "hf: git cat-file blob " << source.oid << " in " << source.repo_dir.string()
                << " ended with " << exit_status->ToString() << ", " << left << " bytes missing, "
                << extra << " unexpected: " << stderr_text;
    if (started) {
      ex.Abort();  // the client sees a short body, never a wrong complete one
    } else {
      co_await ex.Respond(failed());
    }
    co_return;
  }
  co_await ex.EndStream();
}

}  // namespace mirrord
