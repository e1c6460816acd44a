#include "cli/progress_display.h"

#include <cmath>
#include <cstdio>

namespace mirrord {

std::string FormatBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // Switch units before the one-decimal rounding would print "1024.0".
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

std::string FormatRate(double bytes_per_second) {
  if (!std::isfinite(bytes_per_second) || bytes_per_second <= 0) return "0 B/s";
  if (bytes_per_second >= 1.8e19) return FormatBytes(UINT64_MAX) + "/s";
  return FormatBytes(static_cast<uint64_t>(std::llround(bytes_per_second))) + "/s";
}

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  }
  return buf;
}

std::string FormatProgress(const SyncProgress& p) {
  std::string s = "[" + (p.phase.empty() ? std::string("waiting") : p.phase) + "]";
  if (p.phase == "lfs" || (p.lfs_objects_total > 0 && p.phase != "fetching")) {
    // The LFS phase: objects and bytes of what the store lacked, rate and time left.
    s += " LFS " + std::to_string(p.lfs_objects_done) + "/" + std::to_string(p.lfs_objects_total) +
         " objects  " + FormatBytes(p.lfs_bytes_done) + " / " + FormatBytes(p.lfs_bytes_total);
    if (p.lfs_bytes_per_second > 0) {
      s += "  " + FormatRate(p.lfs_bytes_per_second);
      if (p.lfs_bytes_total > p.lfs_bytes_done) {
        s += "  ETA " + FormatEta(static_cast<double>(p.lfs_bytes_total - p.lfs_bytes_done) /
                                  p.lfs_bytes_per_second);
      }
    }
    return s;
  }
  if (p.total_objects > 0) {
    s += " " + std::to_string(p.received_objects) + "/" + std::to_string(p.total_objects) +
         " objects";
  } else if (p.received_objects > 0) {
    s += " " + std::to_string(p.received_objects) + " objects";
  }
  if (p.received_bytes > 0) s += "  " + FormatBytes(p.received_bytes);
  if (p.bytes_per_second > 0) s += "  " + FormatRate(p.bytes_per_second);
  return s;
}

std::string FormatSyncSummary(const SyncRunView& run) {
  int64_t begin = run.started_at != 0 ? run.started_at : run.queued_at;
  int64_t seconds = run.finished_at > begin ? run.finished_at - begin : 0;
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.1f",
                static_cast<double>(run.progress.received_bytes) / (1024.0 * 1024.0));
  std::string s = run.repo + ": " + std::to_string(run.refs_added) + " refs added, " +
                  std::to_string(run.refs_updated) + " updated, " +
                  std::to_string(run.refs_deleted) + " deleted, " + mib + " MiB in " +
                  std::to_string(seconds) + " s";
  if (run.lfs_objects > 0) {
    s += "; LFS: " + std::to_string(run.lfs_objects) + " objects (" + FormatBytes(run.lfs_bytes) +
         "), " + std::to_string(run.lfs_objects_fetched) + " fetched (" +
         FormatBytes(run.lfs_bytes_fetched) + " received)";
  }
  return s;
}

ProgressDisplay::ProgressDisplay(std::ostream& out, bool tty, const Clock& clock)
    : out_(out), tty_(tty), clock_(clock) {}

void ProgressDisplay::Update(const SyncProgress& progress) {
  UpdateLine(progress.phase, FormatProgress(progress));
}

void ProgressDisplay::UpdateLine(std::string_view phase, std::string text) {
  if (tty_) {
    if (drawn_width_ > 0 && text == last_text_) return;
    std::string line = "\r" + text;
    // Blank out what is left of a longer previous line; no terminal escapes needed.
    if (text.size() < drawn_width_) line.append(drawn_width_ - text.size(), ' ');
    out_ << line << std::flush;
    drawn_width_ = std::max(text.size(), static_cast<size_t>(1));
    last_text_ = std::move(text);
    return;
  }
  auto now = clock_.SteadyNow();
  bool phase_changed = !printed_any_ || phase != last_phase_;
  bool due = now - last_print_ >= kPlainInterval && text != last_text_;
  if (!phase_changed && !due) return;
  out_ << text << '\n' << std::flush;
  printed_any_ = true;
  last_phase_ = std::string(phase);
  last_text_ = std::move(text);
  last_print_ = now;
}

void ProgressDisplay::Finish() {
  if (tty_ && drawn_width_ > 0) {
    out_ << '\n' << std::flush;
    drawn_width_ = 0;
    last_text_.clear();
  }
}

}  // namespace mirrord
