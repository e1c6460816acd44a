// ProcessMetrics: the standard process_* metrics (what the Go and Python Prometheus clients
// export), which prometheus-cpp does not provide, read from /proc/self at each scrape:
//   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_open_fds, process_max_fds, process_start_time_seconds, process_threads.
// A value that cannot be read is left out of that scrape (never a made-up 0).
// Thread-safety: Collect() may be called from any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace mirrord {

// What /proc/<pid>/stat and friends say, parsed (public for tests).
struct ProcessSample {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
  std::optional<double> threads;
};

// Parses the text of /proc/<pid>/stat (`ticks_per_second`: sysconf(_SC_CLK_TCK),
// `page_size`: sysconf(_SC_PAGESIZE), `boot_time`: /proc/stat's btime). Fields it cannot
// find stay unset. The command name may hold spaces and parentheses: fields are counted
// from the last ')'.
void ParseProcStat(std::string_view stat, double ticks_per_second, double page_size,
                   double boot_time, ProcessSample* out);

// Reads a sample of the process whose /proc directory is `proc_dir` ("/proc/self").
ProcessSample ReadProcessSample(const std::filesystem::path& proc_dir = "/proc/self");

class ProcessMetrics : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace mirrord
