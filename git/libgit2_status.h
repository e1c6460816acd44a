// The one place where libgit2 error codes become Status values, plus the process-wide
// libgit2 initialisation every git/ entry point calls first.
#pragma once

#include <git2.h>

#include <memory>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// Initialises libgit2 once per process (later calls are cheap and return the first
// outcome). Settings applied: fsync of everything libgit2 writes into a git directory
// (packs, indexes, loose refs), so a published ref never points at bytes a power loss could
// take back. libgit2 is never shut down: worker threads may use it until exit.
// Thread-safety: may be called concurrently from any thread.
Status EnsureLibgit2Initialized();

// Turns a failed libgit2 call (`code` < 0) into a Status "context: libgit2 message". Reads
// git_error_last(), which is thread-local and overwritten by the next libgit2 call, so call
// this immediately after the failing call on the same thread. URLs in the message have their
// credentials redacted. Mapping: GIT_ENOTFOUND or ENOENT -> NotFound, GIT_EEXISTS -> AlreadyExists,
// GIT_EAUTH/GIT_EOWNER -> PermissionDenied, GIT_ECERTIFICATE/GIT_ELOCKED/GIT_EEOF/network
// classes -> Unavailable, GIT_EUSER -> Cancelled (a callback aborted), GIT_EMISMATCH/indexer/zlib
// -> DataLoss, invalid specs -> InvalidArgument, out of memory or disk space -> ResourceExhausted,
// anything else -> Internal. `code` >= 0 is OK.
Status Libgit2Status(int code, std::string_view context);

// RAII for libgit2 handles: each C handle lives in a unique_ptr with its free function.
template <typename T, void (*Free)(T*)>
struct Libgit2Deleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};
using RepositoryPtr =
    std::unique_ptr<git_repository, Libgit2Deleter<git_repository, git_repository_free>>;
using RemotePtr = std::unique_ptr<git_remote, Libgit2Deleter<git_remote, git_remote_free>>;
using ReferencePtr =
    std::unique_ptr<git_reference, Libgit2Deleter<git_reference, git_reference_free>>;
using ObjectPtr = std::unique_ptr<git_object, Libgit2Deleter<git_object, git_object_free>>;
using ConfigPtr = std::unique_ptr<git_config, Libgit2Deleter<git_config, git_config_free>>;
using OdbPtr = std::unique_ptr<git_odb, Libgit2Deleter<git_odb, git_odb_free>>;
using RefspecPtr = std::unique_ptr<git_refspec, Libgit2Deleter<git_refspec, git_refspec_free>>;
using ReferenceIteratorPtr =
    std::unique_ptr<git_reference_iterator,
                    Libgit2Deleter<git_reference_iterator, git_reference_iterator_free>>;

// A git_buf that is disposed on scope exit.
class ScopedGitBuf {
 public:
  ScopedGitBuf() = default;
  ~ScopedGitBuf() { git_buf_dispose(&buf_); }
  ScopedGitBuf(const ScopedGitBuf&) = delete;
  ScopedGitBuf& operator=(const ScopedGitBuf&) = delete;
  git_buf* get() { return &buf_; }
  std::string_view view() const {
    return buf_.ptr == nullptr ? std::string_view() : std::string_view(buf_.ptr, buf_.size);
  }

 private:
  git_buf buf_ = GIT_BUF_INIT;
};

// Opens the bare repository at `dir` without searching parent directories.
// NotFound if there is no repository there.
Result<RepositoryPtr> OpenBareRepository(const std::string& dir);

}  // namespace mirrord
