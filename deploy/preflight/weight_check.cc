#include "deploy/preflight/weight_check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "common/file_util.h"
#include "common/sha256.h"

namespace mirrord::preflight {
namespace {

constexpr size_t kReadBuffer = 4 << 20;

// A file mapped for hashing that shrinks meanwhile (its pages past the new end fault with
// SIGBUS) ends the preflight with the weight class's exit code and a line saying so, instead
// of a crash. Installed once; the handler only writes and exits (async-signal-safe).
void OnSigbus(int) {
  static constexpr char kLine[] =
      "mirrord-preflight: FAILED (exit 74): a weight file shrank while it was verified: the "
      "image's files are being changed; pull the image again\n";
  (void)!::write(2, kLine, sizeof kLine - 1);
  ::_exit(74);
}

void InstallSigbusHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = OnSigbus;
    ::sigaction(SIGBUS, &sa, nullptr);
  });
}

// SHA-256 of the whole open file of `size` (> 0) bytes through a read-only mapping: no copy
// into a buffer, which measured 12% faster than pread on a 16-core host (BENCHMARKS.md).
// nullopt when the file cannot be mapped (the caller reads it instead).
std::optional<std::string> HashMapped(int fd, uint64_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return std::nullopt;
  ::madvise(map, size, MADV_SEQUENTIAL);
  Sha256 hash;
  const char* p = static_cast<const char*>(map);
  constexpr uint64_t kStep = 8 << 20;
  for (uint64_t off = 0; off < size; off += kStep) {
    hash.Update(std::string_view(p + off, static_cast<size_t>(std::min(kStep, size - off))));
  }
  ::munmap(map, size);
  return hash.FinishHex();
}

// SHA-256 of [offset, offset + length) of the open file; the errno Status of a failed read,
// DataLoss when the file ends early.
Result<std::string> HashRange(int fd, uint64_t offset, uint64_t length, std::string& buf) {
  Sha256 hash;
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read");
    }
    if (n == 0) return DataLoss("file ended early");
    hash.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    done += static_cast<uint64_t>(n);
  }
  return hash.FinishHex();
}

// Checks one file in `mode`; nullopt when it is fine.
std::optional<WeightProblem> CheckFile(const PreflightManifest& manifest, size_t index,
                                       VerifyMode mode, std::string& buf,
                                       std::atomic<uint64_t>& hashed) {
  const ManifestFile& f = manifest.files[index];
  auto problem = [&](WeightProblem::Kind kind, std::string detail) {
    return WeightProblem{kind, f.path, std::move(detail)};
  };
  UniqueFd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return problem(WeightProblem::Kind::kMissing, "missing");
    return problem(WeightProblem::Kind::kUnreadable, std::string("cannot open: ") + strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return problem(WeightProblem::Kind::kUnreadable, std::string("stat: ") + strerror(errno));
  }
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    return problem(
        WeightProblem::Kind::kWrongSize,
        "expected " + std::to_string(f.size) + " bytes, found " + std::to_string(st.st_size));
  }
  if (mode == VerifyMode::kSize) return std::nullopt;
  auto check = [&](uint64_t offset, uint64_t length,
                   const std::string& want) -> std::optional<WeightProblem> {
    Result<std::string> got = HashRange(fd.get(), offset, length, buf);
    if (!got.ok()) return problem(WeightProblem::Kind::kUnreadable, got.status().message());
    hashed += length;
    if (*got == want) return std::nullopt;
    std::string where = (offset == 0 && length == f.size)
                            ? std::string("SHA-256")
                            : "SHA-256 of bytes " + std::to_string(offset) + "-" +
                                  std::to_string(offset + length - 1);
    return problem(WeightProblem::Kind::kMismatch, where + " expected " + want + ", found " + *got);
  };
  if (mode == VerifyMode::kFull) {
    if (f.size > 0) {
      InstallSigbusHandler();
      if (std::optional<std::string> got = HashMapped(fd.get(), f.size)) {
        hashed += f.size;
        if (*got == f.sha256) return std::nullopt;
        return problem(WeightProblem::Kind::kMismatch,
                       "SHA-256 expected " + f.sha256 + ", found " + *got);
      }
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    return check(0, f.size, f.sha256);
  }
  for (const ManifestSample& s : manifest.samples) {
    if (s.file_index != index) continue;
    if (auto p = check(s.offset, s.length, s.sha256)) return p;
  }
  return std::nullopt;
}

}  // namespace

Result<VerifyMode> ParseVerifyMode(std::string_view text) {
  if (text == "size") return VerifyMode::kSize;
  if (text == "sample") return VerifyMode::kSample;
  if (text == "full") return VerifyMode::kFull;
  return InvalidArgument("PREFLIGHT_VERIFY must be size, sample or full, not \"" +
                         std::string(text.substr(0, 32)) + "\"");
}

WeightReport CheckWeights(const PreflightManifest& manifest, VerifyMode mode, unsigned threads) {
  const size_t n = manifest.files.size();
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (mode != VerifyMode::kFull) threads = std::min(threads, 4u);  // stat and small reads
  threads = static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(n, 1)));

  std::vector<std::optional<WeightProblem>> results(n);
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> hashed{0};
  auto worker = [&] {
    std::string buf(kReadBuffer, '\0');
    for (size_t i = next++; i < n; i = next++) {
      results[i] = CheckFile(manifest, i, mode, buf, hashed);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();

  WeightReport report;
  report.bytes_hashed = hashed.load();
  for (auto& r : results) {
    if (r.has_value()) report.problems.push_back(std::move(*r));
  }
  return report;
}

}  // namespace mirrord::preflight
