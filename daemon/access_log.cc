#include "daemon/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/log.h"

namespace mirrord {
namespace {

// Appends `text` as a JSON string: printable ASCII as is (with '"' and '\' escaped), every
// other byte as \u00XX, so the result is valid JSON (and one line) whatever the bytes.
void AppendJsonString(std::string& out, std::string_view text) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  out += '"';
}

std::string Rfc3339Millis(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  int millis = static_cast<int>(ms.count() % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

int OpenForAppend(const std::filesystem::path& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

}  // namespace

std::string FormatAccessLogLine(const HttpAccessRecord& r) {
  std::string out;
  out.reserve(256 + r.path.size() + r.user_agent.size());
  out += "{\"time\":\"" + Rfc3339Millis(r.time) + "\",\"client\":";
  AppendJsonString(out, r.client);
  out += ",\"token\":";
  AppendJsonString(out, r.token_name);
  out += ",\"method\":";
  AppendJsonString(out, r.method);
  out += ",\"path\":";
  // The server passes the path without its query; a caller passing a raw target must not
  // leak one either.
  AppendJsonString(out, r.path.substr(0, r.path.find('?')));
  out += ",\"repo\":";
  AppendJsonString(out, r.repo);
  out += ",\"status\":" + std::to_string(r.status);
  out += ",\"bytes\":" + std::to_string(r.bytes);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f",
                static_cast<double>(r.duration.count()) / 1000.0);
  out += ",\"duration_ms\":";
  out += duration;
  out += ",\"user_agent\":";
  AppendJsonString(out, r.user_agent.substr(0, kMaxLoggedUserAgent));
  out += "}\n";
  return out;
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::filesystem::path& path,
                                                   size_t queue_limit) {
  int fd = OpenForAppend(path);
  if (fd < 0) {
    const int err = errno;
    return Unavailable("cannot open access log " + path.string() + ": " + std::strerror(err));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(path, fd, queue_limit));
}

AccessLog::AccessLog(std::filesystem::path path, int fd, size_t queue_limit)
    : path_(std::move(path)), queue_limit_(queue_limit), fd_(fd) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

void AccessLog::Append(const HttpAccessRecord& record) {
  std::string line = FormatAccessLogLine(record);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < queue_limit_) {
      queue_.push_back(std::move(line));
      line.clear();
    }
  }
  if (!line.empty()) {
    Drop(1);
    return;
  }
  wake_.notify_one();
}

void AccessLog::Reopen() {
  {
    std::lock_guard lock(mu_);
    reopen_ = true;
  }
  wake_.notify_one();
}

void AccessLog::Drop(uint64_t n) {
  dropped_.fetch_add(n);
  if (on_drop_) {
    for (uint64_t i = 0; i < n; ++i) on_drop_();
  }
}

void AccessLog::WriterLoop() {
  bool failing = false;  // log a failure once per streak
  for (;;) {
    std::deque<std::string> lines;
    bool reopen = false;
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stop_ || reopen_ || !queue_.empty(); });
      lines.swap(queue_);
      reopen = reopen_;
      reopen_ = false;
      stop = stop_;
    }
    if (reopen) {
      int fd = OpenForAppend(path_);
      if (fd < 0) {
        MLOG(Error) << "access log: cannot reopen " << path_.string() << ": "
                    << std::strerror(errno) << "; writing on to the old file";
      } else {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
        MLOG(Info) << "access log: reopened " << path_.string();
      }
    }
    // One write(2) per batch: O_APPEND keeps each batch whole even if another process
    // appends too.
    std::string batch;
    for (const std::string& l : lines) batch += l;
    size_t done = 0;
    while (done < batch.size()) {
      ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (done < batch.size()) {
      if (!failing) {
        MLOG(Error) << "access log: write to " << path_.string()
                    << " failed: " << std::strerror(errno) << "; dropping lines until it works";
      }
      failing = true;
      // Whole lines lost (a partial last line stays partial; the next line starts fresh).
      size_t kept = 0, lost = 0;
      for (const std::string& l : lines) {
        if (kept + l.size() <= done) {
          kept += l.size();
        } else {
          ++lost;
        }
      }
      written_.fetch_add(lines.size() - lost);
      Drop(lost);
    } else {
      failing = false;
      written_.fetch_add(lines.size());
    }
    if (stop) return;
  }
}

}  // namespace mirrord
