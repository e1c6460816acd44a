// ProgressDisplay: how `mirrorctl sync` shows a running sync (and `mirrorctl build` a build).
//
// On a terminal one line is redrawn in place:
//   \r[fetching] 1234/5678 objects  45.6 MiB  12.3 MiB/s
// When the output is a pipe or file, a plain line is written when the phase changes and
// otherwise at most every 2 s (and only if it says something new), so logs stay readable.
// Thread-safety: not thread-safe; one display per output stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "common/api_types.h"
#include "common/clock.h"

namespace mirrord {

// Binary units with one decimal: "512 B", "1.5 KiB", "45.6 MiB", "1.2 GiB", "3.0 TiB".
std::string FormatBytes(uint64_t bytes);

// FormatBytes of the rate plus "/s"; negative or non-finite rates read "0 B/s".
std::string FormatRate(double bytes_per_second);

// "[fetching] 1234/5678 objects  45.6 MiB  12.3 MiB/s". Parts without data are left out:
// the object count when none were received and no total is known (or "1234 objects"
// without a total), the size when nothing was received, the rate when it is zero.
// "42s", "3m05s", "2h10m"; "?" for a negative or infinite estimate.
std::string FormatEta(double seconds);

std::string FormatProgress(const SyncProgress& progress);

// "NAME: N refs added, M updated, K deleted, X MiB in Y s" for a finished run; Y is the
// run's started..finished time (queued..finished if it never started).
std::string FormatSyncSummary(const SyncRunView& run);

class ProgressDisplay {
 public:
  static constexpr std::chrono::seconds kPlainInterval{2};

  // `out` and `clock` must outlive the display. `tty` selects the redrawn-line mode.
  ProgressDisplay(std::ostream& out, bool tty, const Clock& clock = SystemClock::Instance());

  // Shows `progress` (or not, in plain mode, if too soon and the phase is unchanged).
  void Update(const SyncProgress& progress);
  // The same for any job: `text` is the line to show, `phase` decides plain-mode printing.
  void UpdateLine(std::string_view phase, std::string text);

  // Ends the redrawn line so that what follows starts on a fresh one. Idempotent.
  void Finish();

 private:
  std::ostream& out_;
  const bool tty_;
  const Clock& clock_;
  size_t drawn_width_ = 0;  // tty: length of the line on screen; 0 when none
  bool printed_any_ = false;
  std::string last_phase_;
  std::string last_text_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace mirrord
