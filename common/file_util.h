// Filesystem seams with the durability rules of ARCHITECTURE.md: write to a temporary
// file, fdatasync, rename into place, fsync the directory.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// Owns a file descriptor; closes it on destruction. Not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data);

// On success `path` holds exactly `contents` with `mode`, durably: a crash at any point
// leaves either the old file or the new one, never a mix. On failure `path` is unchanged.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           mode_t mode = 0644);

// Reads a whole (small) file.
Result<std::string> ReadFileToString(const std::filesystem::path& path);

// Feeds `length` bytes of the open file `fd` from `offset` to `sink`, at most 1 MiB at a
// time (pread: the file offset is not moved). DataLoss when the file ends first (`what`
// names it in the message); an errno status for a failed read; else the sink's error.
Status ReadFileRange(int fd, uint64_t offset, uint64_t length,
                     const std::function<Status(std::string_view)>& sink, std::string_view what);

// fsyncs a directory so that renames and creations inside it survive a crash.
Status FsyncDirectory(const std::filesystem::path& dir);

// Creates `dir` and missing parents (mode 0755 unless given).
Status CreateDirectories(const std::filesystem::path& dir);

// Bytes allocated on disk for the regular files under `dir` (st_blocks, each hard-linked
// file once; symlinks are not followed). 0 when `dir` does not exist. Walks the whole tree:
// call it rarely.
Result<uint64_t> DiskUsageBytes(const std::filesystem::path& dir);

}  // namespace mirrord
