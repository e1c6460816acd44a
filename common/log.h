// Logging to stderr, one line per record:
//   2026-11-23T10:00:00.123Z INFO  sync THUDM/GLM-4: fetched 1234 objects
// When stderr is journald's stream (systemd sets $JOURNAL_STREAM to its device:inode), each
// line instead starts with its syslog priority and carries no time stamp (journald adds its
// own), so that `journalctl -p err` selects errors:
//   <6>sync THUDM/GLM-4: fetched 1234 objects
// Thread-safety: records from different threads never interleave within a line.
// Never log secrets: tokens are passed through RedactSecrets() by whoever builds the text.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace mirrord {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// Parses "debug", "info", "warning", "error"; returns false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);

// Writes one complete record.
void WriteLogRecord(LogLevel level, std::string_view message);

// How records are written: with a time stamp and level name (a terminal, a file), or with a
// syslog priority prefix for journald. Chosen once from $JOURNAL_STREAM at the first record;
// tests may set it.
enum class LogFormat { kTimestamped, kJournal };
void SetLogFormat(LogFormat format);
// The line WriteLogRecord writes for `message` in `format` (newline included).
std::string FormatLogRecord(LogFormat format, LogLevel level, std::string_view message);
// The syslog priority of a level: debug 7, info 6, warning 4, error 3.
int SyslogPriority(LogLevel level);

// Returns `text` with credentials in URLs ("https://user:secret@host") replaced by "***".
std::string RedactUrlCredentials(std::string_view text);

// Untrusted text quoted in an error message (messages end up in logs and terminals):
// printable ASCII kept, other bytes as \xNN, at most `max_bytes` of it, then "...".
std::string PrintableExcerpt(std::string_view text, size_t max_bytes);

// Collects a record with operator<< and writes it when destroyed.
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { WriteLogRecord(level_, stream_.str()); }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace mirrord

namespace mirrord {
// Lets MLOG be one expression, so `if (x) MLOG(Info) << ...; else ...` parses as written.
struct LogVoidify {
  void operator&(std::ostream&) {}
};
}  // namespace mirrord

// MLOG(Info) << "text";  cheap when the level is filtered out.
#define MLOG(severity)                                          \
  (::mirrord::LogLevel::k##severity < ::mirrord::MinLogLevel()) \
      ? (void)0                                                 \
      : ::mirrord::LogVoidify() & ::mirrord::LogMessage(::mirrord::LogLevel::k##severity).stream()
