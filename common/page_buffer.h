// PageBuffer: a buffer of anonymous pages, mapped for its lifetime and handed back to the
// kernel (munmap) when destroyed. For large short-lived buffers (the copy buffers of file
// responses): unlike the heap, a burst of them leaves nothing behind in the process's RSS,
// and the pages are zero-filled by the kernel only as they are touched.
// Not thread-safe (one owner); movable, not copyable.
#pragma once

#include <cstddef>

namespace mirrord {

class PageBuffer {
 public:
  PageBuffer() = default;
  // Maps `size` bytes (rounded up to whole pages). !valid() if the mapping failed (or size 0).
  explicit PageBuffer(size_t size);
  ~PageBuffer();
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  bool valid() const { return data_ != nullptr; }
  char* data() const { return data_; }
  // The size asked for (usable bytes).
  size_t size() const { return size_; }

 private:
  void Unmap();

  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mirrord
