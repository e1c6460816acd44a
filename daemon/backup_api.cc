// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/backup_api.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "common/api_json.h"
#include "common/log.h"
#include "daemon/admin_auth.h"

namespace mirrord {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::chrono::milliseconds kPoll{250};
constexpr std::chrono::seconds kHeartbeat{5};

std::string ProgressLine(const BackupProgress& p) {
  json::object o;
  o["phase"] = p.phase;
  o["repos_done"] = p.repos_done;
  o["repos_total"] = p.repos_total;
  o["files"] = p.files;
  o["bytes"] = p.bytes;
  o["linked"] = p.linked;
  return json::serialize(o) + "\n";
}

std::string SummaryLine(const BackupSummary& s) {
  json::object o = BackupSummaryJson(s);
  o["done"] = true;
  return json::serialize(o) + "\n";
}

}  // namespace

BackupApi::BackupApi(BackupSources sources, std::string admin_token, const Clock& clock)
    : sources_(std::move(sources)), admin_token_(std::move(admin_token)), clock_(clock) {}

BackupApi::~BackupApi() { Stop(); }

void BackupApi::Stop() {
  cancel_.store(true);
  std::lock_guard lock(mu_);
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> BackupApi::Handle(HttpExchange& ex) {
  const HttpRequest& req = ex.request();
  if (std::optional<HttpResponse> refused = AdminAuthFailure(req, *admin_token_.Get())) {
    co_await ex.Respond(std::move(*refused));
    co_return;
  }
  std::string dir;
  if (Result<json::value> body = ParseJson(req.body()); body.ok() && body->is_object()) {
    if (const json::value* d = body->as_object().if_contains("dir"); d && d->is_string()) {
      dir = std::string(d->as_string());
    }
  }
  if (dir.empty() || dir.front() != '/') {
    co_await ex.Respond(AdminErrorResponse(
        req, InvalidArgument("expected {\"dir\": ABSOLUTE PATH} (a directory on mirrord's host)")));
    co_return;
  }
  std::shared_ptr<Run> run;
  {
    std::lock_guard lock(mu_);
    if (cancel_.load()) {
      co_await ex.Respond(AdminErrorResponse(req, Unavailable("mirrord is stopping")));
      co_return;
    }
    bool busy = false;
    if (running_) {
      std::lock_guard run_lock(running_->mu);
      busy = !running_->finished;
    }
    if (busy) {
      co_await ex.Respond(
          AdminErrorResponse(req, FailedPrecondition("a backup is already running")));
      co_return;
    }
    if (thread_.joinable()) thread_.join();  // the previous one, finished
    run = std::make_shared<Run>();
    running_ = run;
    const int64_t now = ToUnixSeconds(clock_.Now());
    MLOG(Info) << "backup to " << dir << " requested (from " << ex.peer() << ")";
    thread_ = std::thread([this, run, dir, now] {
      Result<BackupSummary> result =
          WriteBackup(sources_, dir, now, cancel_, [&run](const BackupProgress& p) {
            std::lock_guard progress_lock(run->mu);
            run->progress = p;
          });
      if (result.ok()) {
        MLOG(Info) << "backup to " << dir << " done: " << result->repos << " mirrors, "
                   << result->lfs_objects << " LFS objects, " << result->oci_blobs
                   << " image blobs, " << result->bytes << " bytes (" << result->linked
                   << " files linked)";
      } else {
        MLOG(Error) << "backup to " << dir << " failed: " << result.status().ToString();
      }
      std::lock_guard result_lock(run->mu);
      run->result = std::move(result);
      run->finished = true;
    });
  }

  http::response<http::empty_body> header{http::status::ok, req.version()};
  header.set(http::field::content_type, "application/x-ndjson");
  header.set(http::field::cache_control, "no-store");
  header.keep_alive(req.keep_alive());
  if (!co_await ex.BeginStream(std::move(header))) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::string last_line;
  auto last_sent = std::chrono::steady_clock::time_point::min();
  for (;;) {
    std::string line;
    bool finished = false;
    {
      std::lock_guard lock(run->mu);
      finished = run->finished;
      if (finished) {
        line =
            run->result.ok() ? SummaryLine(*run->result) : ErrorJson(run->result.status()) + "\n";
      } else {
        line = ProgressLine(run->progress);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (finished || line != last_line || now - last_sent >= kHeartbeat) {
      // A client that left does not stop the backup; its result is logged.
      if (!co_await ex.Write(line)) break;
      last_line = std::move(line);
      last_sent = now;
    }
    if (finished) break;
    timer.expires_after(kPoll);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) break;
  }
  co_await ex.EndStream();
}

}  // namespace mirrord
