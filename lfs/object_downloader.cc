#include "lfs/object_downloader.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "common/log.h"
#include "http/curl_handles.h"
#include "lfs/batch_types.h"
#include "lfs/download_action_slot.h"
#include "lfs/http_range.h"
#include "lfs/object_exchange.h"
#include "lfs/piece_attempt.h"

namespace mirrord {
namespace {

constexpr size_t kMaxErrorBody = 1024;
// libcurl's receive buffer for object bodies: each chunk it hands over is one WriteAt (a
// lock and a pwrite), so 512 KiB instead of the default 16 KiB cuts those calls 32-fold.
constexpr long kObjectBufferSize = 512 * 1024;

}  // namespace

std::vector<ByteRange> PlanLfsPieces(const std::vector<ByteRange>& missing, int max_connections,
                                     uint64_t min_piece_size, uint64_t max_piece_size) {
  uint64_t total = 0;
  for (const ByteRange& r : missing) total += r.size();
  if (total == 0) return {};
  min_piece_size = std::max<uint64_t>(1, min_piece_size);
  uint64_t pieces = std::clamp<uint64_t>(total / min_piece_size, 1,
                                         static_cast<uint64_t>(std::max(1, max_connections)));
  uint64_t target = std::min((total + pieces - 1) / pieces, std::max<uint64_t>(1, max_piece_size));
  std::vector<ByteRange> out;
  for (const ByteRange& r : missing) {
    if (r.size() == 0) continue;
    // Equal parts of at most `target` bytes, so no range leaves a sliver behind.
    uint64_t parts = (r.size() + target - 1) / target;
    uint64_t part = (r.size() + parts - 1) / parts;
    for (uint64_t b = r.begin; b < r.end; b += part) out.push_back({b, std::min(r.end, b + part)});
  }
  return out;
}

// The state of one object's download, shared by its connections.
struct ObjectDownloader::ObjectRun {
  LfsPointer object;
  std::string ref;
  const LfsProgressCallback* progress = nullptr;
  std::chrono::milliseconds progress_interval{0};
  const std::atomic<bool>* cancel = nullptr;

  // The download action in use; replaced when it expires or is refused.
  std::optional<DownloadActionSlot> actions;

  // One pass over the missing ranges.
  std::atomic<bool> stop{false};
  std::atomic<bool> range_ignored{false};
  std::atomic<bool> restart{false};
  std::mutex error_mu;
  Status first_error;
  std::string restart_reason;

  std::atomic<uint64_t> done{0};  // bytes present: durable before the pass + written in it
  std::atomic<uint64_t> received{0};
  std::atomic<int> requests{0};
  std::mutex progress_mu;
  std::chrono::steady_clock::time_point last_progress{};

  bool IsCancelled() const { return cancel != nullptr && cancel->load(std::memory_order_relaxed); }
  bool ShouldStop() const { return stop.load(std::memory_order_relaxed) || IsCancelled(); }

  void Fail(const Status& status) {
    {
      std::lock_guard lock(error_mu);
      if (first_error.ok()) first_error = status;
    }
    stop = true;
  }

  void Restart(std::string reason) {
    {
      std::lock_guard lock(error_mu);
      if (restart_reason.empty()) restart_reason = std::move(reason);
    }
    restart = true;
    stop = true;
  }

  void ReportProgress(bool force) {
    if (progress == nullptr || !*progress) return;
    std::unique_lock lock(progress_mu, std::defer_lock);
    if (force) {
      lock.lock();
    } else if (!lock.try_lock()) {
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_progress < progress_interval) return;
    last_progress = now;
    (*progress)(object, done.load(), object.size);
  }
};

struct ObjectDownloader::PassResult {
  Status status;
  bool range_ignored = false;
  bool restart = false;
  std::string restart_reason;
};

namespace {

// One GET of (part of) an object: curl's callbacks glued to CheckObjectResponse (the head)
// and a PieceWriter (the body).
struct Exchange {
  // Set up before the transfer.
  std::atomic<bool>* stop = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  std::atomic<uint64_t>* done = nullptr;
  std::atomic<uint64_t>* received = nullptr;
  std::function<void()> on_progress;
  uint64_t object_size = 0;
  std::optional<ByteRange> requested;  // the Range asked for; nullopt: the whole body
  std::optional<PieceWriter> writer;

  // Filled from the response head.
  long code = 0;
  ResponseHeaders headers;
  bool head_checked = false;
  uint64_t base = 0;      // object offset of the body's first byte
  uint64_t body_end = 0;  // object offset just past the body's last byte

  // Outcomes.
  Status fatal;                // stops the object (disk error, the upstream's size differs)
  Status retryable;            // a bad answer worth another attempt (Content-Range mismatch)
  bool range_ignored = false;  // 200 to a Range that does not start at 0
  bool unsatisfiable = false;  // 416
  bool complete = false;       // every target byte written; the transfer was cut on purpose
  std::string error_body;

  bool StopRequested() const {
    return stop->load(std::memory_order_relaxed) ||
           (cancel != nullptr && cancel->load(std::memory_order_relaxed));
  }

  // Decides what the body is, once the head is complete. False stops the transfer.
  bool CheckHead(CURL* e) {
    head_checked = true;
    ObjectResponseHead head;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &head.code);
    code = head.code;
    head.content_range = std::string(headers.Get("Content-Range").value_or(""));
    curl_off_t length = -1;
    curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    head.content_length = length;
    using Kind = ObjectResponseVerdict::Kind;
    ObjectResponseVerdict v = CheckObjectResponse(head, object_size, requested);
    switch (v.kind) {
      case Kind::kBody:
        base = v.base;
        body_end = v.body_end;
        return true;
      case Kind::kErrorBody:
        return true;  // its body is kept for the message
      case Kind::kRetry:
        retryable = v.status;
        return false;
      case Kind::kFatal:
        fatal = v.status;
        return false;
      case Kind::kRangeIgnored:
        range_ignored = true;
        return false;
      case Kind::kUnsatisfiable:
        unsatisfiable = true;
        return false;
    }
    return false;
  }

  size_t OnBody(CURL* e, const char* data, size_t n) {
    if (!head_checked && !CheckHead(e)) return 0;
    if (code < 200 || code >= 300) {
      size_t room = kMaxErrorBody - std::min(kMaxErrorBody, error_body.size());
      error_body.append(data, std::min(room, n));
      return room == 0 ? 0 : n;
    }
    if (StopRequested()) return 0;
    received->fetch_add(n, std::memory_order_relaxed);
    const uint64_t before = writer->written();
    fatal = writer->Write(base, std::string_view(data, n));
    done->fetch_add(writer->written() - before, std::memory_order_relaxed);
    if (!fatal.ok()) return 0;
    if (on_progress) on_progress();
    if (writer->complete()) {
      complete = true;
      // Nothing more is needed. A body that ends here completes normally, which keeps the
      // connection alive for the next piece; a longer one is cut.
      return base + writer->stream() == body_end ? n : 0;
    }
    return n;
  }
};

}  // namespace

ObjectDownloader::ObjectDownloader(BlobStore* store, LfsBatchClient* batch,
                                   ObjectDownloaderOptions options)
    : store_(store),
      batch_(batch),
      options_(std::move(options)),
      own_limiter_(options_.limiter != nullptr ? nullptr
                                               : std::make_unique<HostConnectionLimiter>(
                                                     options_.max_connections_per_host)),
      limiter_(options_.limiter != nullptr ? options_.limiter : own_limiter_.get()),
      own_pool_(options_.pool != nullptr ? nullptr
                                         : std::make_unique<DownloadPool>(std::max(
                                               options_.max_connections, options_.concurrency))),
      pool_(options_.pool != nullptr ? options_.pool : own_pool_.get()),
      backoff_(BackoffPolicy{options_.initial_backoff, options_.max_backoff, kFullJitter},
               options_.timing.seed) {}

ObjectDownloader::~ObjectDownloader() = default;

Status ObjectDownloader::FetchPiece(ObjectRun& run, PartialBlob& blob, ByteRange piece,
                                    bool whole_body, CurlSession& session) {
  const std::string& oid = run.object.oid;
  const Clock& clock = options_.timing.GetClock();
  uint64_t pos = piece.begin;
  int failures = 0;
  Status last_error;
  std::optional<uint64_t> stale_generation;
  Status stale_reason;

  while (true) {
    std::vector<ByteRange> targets;
    if (whole_body) {
      targets = blob.MissingRanges();
      if (targets.empty()) return Status::Ok();
    } else {
      if (pos >= piece.end) return Status::Ok();
      targets = {ByteRange{pos, piece.end}};
    }
    if (run.ShouldStop()) return Cancelled("download of LFS object " + oid + " cancelled");
    Result<DownloadActionSlot::Use> use = run.actions->Current(stale_generation, stale_reason);
    if (!use.ok()) return use.status();
    stale_generation.reset();
    const LfsDownloadAction& action = use->action;

    Result<HostConnectionLimiter::Permit> permit = limiter_->Acquire(
        HostConnectionLimiter::HostKey(action.href), [&run] { return run.ShouldStop(); });
    if (!permit.ok()) return permit.status();

    Exchange ex;
    ex.stop = &run.stop;
    ex.cancel = options_.cancel;
    ex.done = &run.done;
    ex.received = &run.received;
    ex.on_progress = [&run] { run.ReportProgress(false); };
    ex.object_size = run.object.size;
    if (!whole_body) ex.requested = targets.front();
    ex.writer.emplace(&blob, targets, options_.commit_interval);

    HttpRequestOptions request;
    request.user_agent = options_.user_agent;
    request.connect_timeout = options_.connect_timeout;
    // Storage hrefs often redirect (Hugging Face to its CDN). curl never forwards the
    // Authorization header or the token to another host.
    request.max_redirects = options_.max_redirects;
    if (action.send_token) request.token = batch_->options().token;
    request.buffer_size = kObjectBufferSize;
    CURL* e = session.Prepare(action.href, request);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    ASSIGN_OR_RETURN(CurlSlistPtr headers,
                     MakeHeaderList(ObjectRequestHeaders(action, ex.requested)));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
    struct Context {
      Exchange* ex;
      CURL* e;
    } context{&ex, e};
    auto on_data = +[](char* data, size_t size, size_t nmemb, void* user) -> size_t {
      auto* c = static_cast<Context*>(user);
      return c->ex->OnBody(c->e, data, size * nmemb);
    };
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &ResponseHeaders::CurlCallback);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &ex.headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &context);

    run.requests.fetch_add(1);
    CURLcode result = CURLE_OK;
    Status performed =
        session.Perform([&ex] { return ex.StopRequested(); }, options_.stall_timeout, &result);
    permit->Release();
    // A response without a body (an empty 416 or 401) is judged by its head alone.
    if (!ex.head_checked && performed.ok() && result == CURLE_OK) ex.CheckHead(e);
    // Whatever happened, what was written becomes durable, so no attempt fetches it again.
    if (Status committed = ex.writer->Finish(); ex.fatal.ok()) ex.fatal = committed;
    if (!whole_body) pos = std::max(pos, ex.writer->written_end());
    if (!ex.fatal.ok()) {
      return ex.fatal.WithContext("download of LFS object " + oid);
    }
    if (performed.code() == StatusCode::kInternal) return performed;
    if (ex.range_ignored) {
      run.range_ignored = true;
      run.stop = true;
      return Status::Ok();
    }
    if (ex.unsatisfiable) {
      run.Restart("the upstream answered 416 to bytes " + std::to_string(targets.front().begin) +
                  "-" + std::to_string(targets.front().end - 1) + " of the " +
                  std::to_string(run.object.size) + "-byte object");
      return Status::Ok();
    }
    if (ex.complete) continue;
    if (run.ShouldStop() || performed.code() == StatusCode::kCancelled) {
      return Cancelled("download of LFS object " + oid + " cancelled");
    }

    // A failed attempt: decide whether and when to try again.
    const std::string where = "LFS object " + oid;
    PieceAttempt attempt;
    attempt.performed = performed;
    if (performed.ok() && result != CURLE_OK)
      attempt.transfer = session.TransferError(result, where);
    attempt.has_head = ex.head_checked || (performed.ok() && result == CURLE_OK);
    attempt.code = ex.head_checked ? ex.code : session.ResponseCode();
    attempt.bad_answer = ex.retryable;
    attempt.headers = &ex.headers;
    attempt.error_body = ex.error_body;
    attempt.body_bytes = ex.writer->stream();
    attempt.written = ex.writer->written();
    PieceVerdict verdict = JudgePieceAttempt(attempt, where, options_.max_retry_after, clock.Now());
    std::chrono::milliseconds wait{-1};
    switch (verdict.kind) {
      case PieceVerdict::Kind::kContinue:
        continue;
      case PieceVerdict::Kind::kRefreshAction:
        stale_generation = use->generation;  // a fresh action is asked for (bounded)
        stale_reason = verdict.status;
        MLOG(Info) << where << ": GET refused (HTTP " << attempt.code
                   << "); asking for a fresh href";
        continue;
      case PieceVerdict::Kind::kFail:
        return verdict.status;
      case PieceVerdict::Kind::kRetry:
        last_error = verdict.status;
        if (verdict.wait.has_value()) wait = *verdict.wait;
        break;
    }

    if (ex.writer->written() > 0) {
      failures = 0;  // progress: a flaky connection is not a dead one
    } else if (++failures >= options_.max_piece_attempts) {
      return last_error.WithContext("giving up after " + std::to_string(failures) +
                                    " attempts without progress");
    }
    if (wait.count() < 0) wait = backoff_.Delay(failures);
    MLOG(Info) << last_error.message() << "; retrying from byte " << (whole_body ? 0 : pos)
               << " in " << wait.count() << " ms";
    if (Status w = WaitFor(options_.timing, wait, [&run] { return run.ShouldStop(); }); !w.ok()) {
      return Cancelled("download of LFS object " + oid + " cancelled");
    }
  }
}

ObjectDownloader::PassResult ObjectDownloader::FetchMissing(ObjectRun& run, PartialBlob& blob,
                                                            bool whole_body) {
  run.stop = false;
  run.range_ignored = false;
  run.restart = false;
  {
    std::lock_guard lock(run.error_mu);
    run.first_error = Status::Ok();
    run.restart_reason.clear();
  }
  PassResult result;
  std::vector<ByteRange> missing = blob.MissingRanges();
  if (missing.empty()) return result;
  std::vector<ByteRange> pieces =
      whole_body ? std::vector<ByteRange>{ByteRange{0, run.object.size}}
                 : PlanLfsPieces(missing, options_.max_connections, options_.min_piece_size,
                                 options_.max_piece_size);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    Result<std::unique_ptr<CurlSession>> session = CurlSession::Create();
    if (!session.ok()) {
      run.Fail(session.status());
      return;
    }
    while (!run.ShouldStop()) {
      size_t i = next.fetch_add(1);
      if (i >= pieces.size()) break;
      Status s = FetchPiece(run, blob, pieces[i], whole_body, **session);
      if (!s.ok()) {
        run.Fail(s);
        break;
      }
      if (!whole_body && options_.on_piece_done && !run.ShouldStop()) {
        options_.on_piece_done(blob, pieces[i]);
      }
    }
  };
  size_t connections =
      std::min<size_t>(pieces.size(), static_cast<size_t>(std::max(1, options_.max_connections)));
  pool_->RunWithHelpers(connections - 1, worker);

  std::lock_guard lock(run.error_mu);
  if (run.restart) {
    result.restart = true;
    result.restart_reason = run.restart_reason;
  } else if (run.range_ignored) {
    result.range_ignored = true;
  } else if (!run.first_error.ok()) {
    result.status = run.first_error;
  } else if (run.IsCancelled()) {
    result.status = Cancelled("download of LFS object " + run.object.oid + " cancelled");
  } else if (!blob.MissingRanges().empty()) {
    result.status =
        Internal("download of LFS object " + run.object.oid + " ended with bytes missing");
  }
  return result;
}

LfsDownloadReport ObjectDownloader::Download(const LfsPointer& object,
                                             std::optional<LfsDownloadAction> action,
                                             std::string_view ref,
                                             const LfsProgressCallback& progress) {
  LfsDownloadReport report;
  report.object = object;
  ObjectRun run;
  run.object = object;
  run.ref = std::string(ref);
  run.progress = &progress;
  run.progress_interval = options_.progress_interval;
  run.cancel = options_.cancel;
  run.actions.emplace(
      "LFS object " + object.oid, std::move(action),
      [this, &run]() -> Result<LfsDownloadAction> {
        ASSIGN_OR_RETURN(std::vector<LfsObjectSource> answer,
                         batch_->RequestDownload({run.object}, run.ref));
        if (answer.size() != 1)
          return Internal("batch answer for one object has " + std::to_string(answer.size()));
        if (!answer.front().status.ok()) return answer.front().status;
        return *answer.front().action;
      },
      options_.max_action_refreshes, options_.expiry_margin, options_.timing.GetClock());

  const std::string where = "LFS object " + object.oid;
  const auto started = std::chrono::steady_clock::now();
  int refetches = 0;
  bool first = true;
  bool whole_body = false;
  while (true) {
    if (run.IsCancelled()) {
      report.status = Cancelled("download of " + where + " cancelled");
      break;
    }
    BusyWait wait;
    wait.cancel = options_.cancel;
    if (options_.busy_wait_timeout) {
      wait.deadline = std::chrono::steady_clock::now() + *options_.busy_wait_timeout;
    }
    wait.on_wait = [&](std::string_view why) {
      report.waited_for_other = true;
      MLOG(Info) << where << ": waiting for another download of it to finish (" << why << ")";
    };
    Result<std::unique_ptr<PartialBlob>> opened =
        store_->OpenPartialWhenFree(object.oid, object.size, wait);
    if (!opened.ok()) {
      if (opened.status().code() == StatusCode::kAlreadyExists) {
        report.already_present = first;
        report.status = Status::Ok();
      } else {
        report.status = opened.status();
      }
      break;
    }
    std::unique_ptr<PartialBlob> blob = std::move(opened).value();
    if (first) report.resumed_bytes = blob->DurableBytes();
    first = false;
    run.done = blob->DurableBytes();
    run.ReportProgress(true);

    PassResult pass = FetchMissing(run, *blob, whole_body);
    if (pass.range_ignored && !whole_body) {
      MLOG(Info) << where << ": the upstream ignores Range requests; downloading it whole over "
                 << "one connection";
      whole_body = true;
      run.done = blob->DurableBytes();
      pass = FetchMissing(run, *blob, true);
    }
    if (pass.restart) {
      Result<std::filesystem::path> moved = blob->Quarantine();
      std::string event = where + ": " + pass.restart_reason + "; partial data " +
                          (moved.ok() ? "moved to " + moved->string()
                                      : "could not be quarantined: " + moved.status().message());
      MLOG(Warning) << event;
      report.quarantined.push_back(event);
      if (!moved.ok()) {
        report.status = moved.status().WithContext(where);
        break;
      }
      if (++refetches > options_.max_refetches) {
        report.status =
            DataLoss(event + "; gave up after " + std::to_string(refetches) + " fetches from zero");
        break;
      }
      continue;
    }
    if (!pass.status.ok()) {
      report.status = pass.status;
      break;
    }
    Status published = blob->Publish();
    if (published.ok()) {
      report.status = Status::Ok();
      break;
    }
    if (published.code() != StatusCode::kDataLoss) {
      report.status = published.WithContext(where);
      break;
    }
    MLOG(Warning) << where << ": verification failed, fetching it again: " << published.message();
    report.quarantined.push_back(published.message());
    if (++refetches > options_.max_refetches) {
      report.status = published.WithContext("giving up on " + where + " after " +
                                            std::to_string(refetches) + " fetches");
      break;
    }
  }
  report.received_bytes = run.received.load();
  report.requests = run.requests.load();
  report.action_refreshes = run.actions->refreshes();
  if (report.status.ok()) {
    run.done = object.size;
    run.ReportProgress(true);
    if (!report.already_present) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
      MLOG(Info) << where << ": " << object.size << " bytes stored (" << report.received_bytes
                 << " received, " << report.resumed_bytes << " resumed, " << report.requests
                 << " requests) in " << ms << " ms";
    }
  }
  return report;
}

std::vector<LfsDownloadReport> ObjectDownloader::DownloadObjects(
    const std::vector<LfsPointer>& objects, std::string_view ref, int concurrency,
    const LfsProgressCallback& progress) {
  std::vector<LfsDownloadReport> reports(objects.size());
  // The first occurrence of each oid does the work; repeats copy its report.
  std::map<std::string, size_t, std::less<>> first_index;
  std::vector<size_t> pending;
  for (size_t i = 0; i < objects.size(); ++i) {
    reports[i].object = objects[i];
    if (!first_index.emplace(objects[i].oid, i).second) continue;
    if (store_->Contains(objects[i].oid)) {
      reports[i].already_present = true;
      continue;
    }
    pending.push_back(i);
  }

  // Batch answers per chunk of at most 100 pending objects, asked for lazily.
  struct Chunk {
    bool asked = false;
    Status status;
    std::vector<LfsObjectSource> sources;
  };
  std::vector<Chunk> chunks((pending.size() + kMaxLfsBatchObjects - 1) / kMaxLfsBatchObjects);
  std::mutex chunks_mu;
  std::atomic<size_t> next{0};
  const std::string ref_name(ref);

  auto worker = [&] {
    while (true) {
      size_t k = next.fetch_add(1);
      if (k >= pending.size()) break;
      size_t i = pending[k];
      LfsDownloadReport& report = reports[i];
      if (options_.cancel != nullptr && options_.cancel->load()) {
        report.status = Cancelled("download of LFS object " + objects[i].oid + " cancelled");
        continue;
      }
      std::optional<LfsDownloadAction> action;
      {
        std::lock_guard lock(chunks_mu);
        Chunk& chunk = chunks[k / kMaxLfsBatchObjects];
        if (!chunk.asked) {
          chunk.asked = true;
          std::vector<LfsPointer> wanted;
          size_t begin = (k / kMaxLfsBatchObjects) * kMaxLfsBatchObjects;
          for (size_t j = begin; j < std::min(pending.size(), begin + kMaxLfsBatchObjects); ++j) {
            wanted.push_back(objects[pending[j]]);
          }
          Result<std::vector<LfsObjectSource>> answer = batch_->RequestDownload(wanted, ref_name);
          if (answer.ok()) {
            chunk.sources = std::move(answer).value();
          } else {
            chunk.status = answer.status();
          }
        }
        if (!chunk.status.ok()) {
          report.status = chunk.status;
          continue;
        }
        const LfsObjectSource& source = chunk.sources.at(k % kMaxLfsBatchObjects);
        if (!source.status.ok()) {
          report.status = source.status;
          MLOG(Warning) << source.status.message();
          continue;
        }
        action = source.action;
      }
      report = Download(objects[i], std::move(action), ref_name, progress);
      if (!report.status.ok() && report.status.code() != StatusCode::kCancelled) {
        MLOG(Warning) << "LFS object " << objects[i].oid << ": " << report.status.ToString();
      }
    }
  };
  size_t workers = std::min<size_t>(
      pending.size(),
      static_cast<size_t>(std::max(1, concurrency > 0 ? concurrency : options_.concurrency)));
  if (workers > 0) pool_->RunWithHelpers(workers - 1, worker);

  for (size_t i = 0; i < objects.size(); ++i) {
    size_t first = first_index.find(objects[i].oid)->second;
    if (first != i) {
      reports[i] = reports[first];
      reports[i].object = objects[i];
    }
  }
  return reports;
}

}  // namespace mirrord
