#include "daemon/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace mirrord {
namespace {

std::optional<double> ToNumber(std::string_view field) {
  double v = 0;
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || p != field.data() + field.size()) return std::nullopt;
  return v;
}

std::string ReadSmallFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// /proc/stat's "btime N" line: the boot time in unix seconds.
std::optional<double> BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("btime ")) return ToNumber(std::string_view(line).substr(6));
  }
  return std::nullopt;
}

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

}  // namespace

void ParseProcStat(std::string_view stat, double ticks_per_second, double page_size,
                   double boot_time, ProcessSample* out) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return;
  // Fields after the command: state is field 3 (index 0 here), utime 14, stime 15,
  // num_threads 20, starttime 22, vsize 23, rss 24 (man 5 proc).
  std::vector<std::string_view> f;
  std::string_view rest = stat.substr(close + 1);
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find_first_of(" \n");
    f.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  auto field = [&](size_t n) -> std::optional<double> {  // n: man 5 proc's field number
    if (n < 3 || n - 3 >= f.size()) return std::nullopt;
    return ToNumber(f[n - 3]);
  };
  auto utime = field(14), stime = field(15);
  if (utime && stime && ticks_per_second > 0) {
    out->cpu_seconds = (*utime + *stime) / ticks_per_second;
  }
  out->threads = field(20);
  if (auto start = field(22); start && ticks_per_second > 0 && boot_time > 0) {
    out->start_time_seconds = boot_time + *start / ticks_per_second;
  }
  out->virtual_bytes = field(23);
  if (auto rss = field(24)) out->resident_bytes = *rss * page_size;
}

ProcessSample ReadProcessSample(const std::filesystem::path& proc_dir) {
  ProcessSample s;
  ParseProcStat(ReadSmallFile(proc_dir / "stat"), static_cast<double>(::sysconf(_SC_CLK_TCK)),
                static_cast<double>(::sysconf(_SC_PAGESIZE)), BootTime().value_or(0), &s);
  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it(proc_dir / "fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) s.open_fds = fds;
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(lim.rlim_cur);
  }
  return s;
}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  const ProcessSample s = ReadProcessSample();
  std::vector<prometheus::MetricFamily> out;
  auto add = [&](const std::optional<double>& v, const char* name, const char* help,
                 MetricType type) {
    if (v) out.push_back(Family(name, help, type, *v));
  };
  add(s.cpu_seconds, "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.", MetricType::Counter);
  add(s.open_fds, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge);
  add(s.max_fds, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge);
  add(s.virtual_bytes, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
      MetricType::Gauge);
  add(s.resident_bytes, "process_resident_memory_bytes", "Resident memory size in bytes.",
      MetricType::Gauge);
  add(s.start_time_seconds, "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.", MetricType::Gauge);
  add(s.threads, "process_threads", "Number of OS threads in the process.", MetricType::Gauge);
  return out;
}

}  // namespace mirrord
