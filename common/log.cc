#include "common/log.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace mirrord {
namespace {
std::atomic<LogLevel> g_min_level{LogLevel::kInfo};
std::mutex g_write_mutex;
// -1: not chosen yet; else a LogFormat.
std::atomic<int> g_format{-1};

// True when stderr is the journal stream systemd connected us to ($JOURNAL_STREAM is
// "DEVICE:INODE" of that stream; a child whose stderr was redirected keeps the variable but
// not the stream, so both are compared).
bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

LogFormat CurrentFormat() {
  int f = g_format.load(std::memory_order_relaxed);
  if (f < 0) {
    f = static_cast<int>(StderrIsJournal() ? LogFormat::kJournal : LogFormat::kTimestamped);
    int expected = -1;
    if (!g_format.compare_exchange_strong(expected, f)) f = expected;
  }
  return static_cast<LogFormat>(f);
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarning:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?    ";
}
}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level.store(level); }
LogLevel MinLogLevel() { return g_min_level.load(std::memory_order_relaxed); }

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug")
    *out = LogLevel::kDebug;
  else if (text == "info")
    *out = LogLevel::kInfo;
  else if (text == "warning" || text == "warn")
    *out = LogLevel::kWarning;
  else if (text == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

std::string FormatLogRecord(LogFormat format, LogLevel level, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 48);
  if (format == LogFormat::kJournal) {
    line += '<';
    line += static_cast<char>('0' + SyslogPriority(level));
    line += '>';
  } else {
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    line += stamp;
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ ", static_cast<int>(ms));
    line += frac;
    line += LevelName(level);
    line += ' ';
  }
  // One record is one line: newlines inside a message would let input forge records.
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  return line;
}

void WriteLogRecord(LogLevel level, std::string_view message) {
  std::string line = FormatLogRecord(CurrentFormat(), level, message);
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::string PrintableExcerpt(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text.substr(0, max_bytes)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

std::string RedactUrlCredentials(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t scheme = text.find("://", i);
    if (scheme == std::string_view::npos) break;
    size_t auth_start = scheme + 3;
    size_t end = text.find_first_of("/ \t\"'", auth_start);
    if (end == std::string_view::npos) end = text.size();
    size_t at = text.rfind('@', end);
    out.append(text.substr(i, auth_start - i));
    if (at != std::string_view::npos && at >= auth_start) {
      out += "***";
      i = at;  // keep the '@host...'
    } else {
      i = auth_start;
    }
  }
  out.append(text.substr(i));
  return out;
}

}  // namespace mirrord
