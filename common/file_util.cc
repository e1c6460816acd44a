#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <set>
#include <utility>

namespace mirrord {

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status FsyncDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open directory " + dir.string());
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync directory " + dir.string());
  return Status::Ok();
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           mode_t mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  // A per-call random suffix keeps concurrent writers of the same path apart.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(rng() % 1000000000);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoStatus(errno, "create " + tmp.string());
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(ErrnoStatus(errno, "chmod " + tmp.string()));
  if (Status s = WriteAll(fd.get(), contents); !s.ok()) return fail(s.WithContext(tmp.string()));
  if (::fdatasync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fdatasync " + tmp.string()));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "rename to " + path.string()));
  }
  return FsyncDirectory(dir);
}

Result<std::string> ReadFileToString(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + path.string());
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status CreateDirectories(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory " + dir.string());
  return Status::Ok();
}

Result<uint64_t> DiskUsageBytes(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return uint64_t{0};
  uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> linked;  // hard-linked files already counted
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while we walk (a repack, a finished download)
      return ErrnoStatus(errno, "stat " + it->path().string());
    }
    if (!S_ISREG(st.st_mode)) continue;
    if (st.st_nlink > 1 && !linked.emplace(st.st_dev, st.st_ino).second) continue;
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(), "walk " + dir.string());
  }
  return bytes;
}

Status ReadFileRange(int fd, uint64_t offset, uint64_t length,
                     const std::function<Status(std::string_view)>& sink, std::string_view what) {
  constexpr uint64_t kChunk = 1 << 20;
  std::string buffer(static_cast<size_t>(std::min(kChunk, length)), '\0');
  uint64_t at = offset;
  uint64_t left = length;
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
    ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + std::string(what));
    }
    if (n == 0) {
      return DataLoss(std::string(what) + " is shorter than " + std::to_string(offset + length) +
                      " bytes");
    }
    RETURN_IF_ERROR(sink(std::string_view(buffer.data(), static_cast<size_t>(n))));
    at += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace mirrord
