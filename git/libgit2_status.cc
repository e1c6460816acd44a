#include "git/libgit2_status.h"

#include <mutex>
#include <string>

#include "common/log.h"

namespace mirrord {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

StatusCode CodeFor(int code, int klass, std::string_view message) {
  // Disk-space and memory failures surface as OS-class errors whose text carries strerror().
  if (klass == GIT_ERROR_NOMEMORY || Contains(message, "No space left on device") ||
      Contains(message, "Disk quota exceeded")) {
    return StatusCode::kResourceExhausted;
  }
  // A local path that does not exist (libgit2 reports strerror(ENOENT)).
  if (klass == GIT_ERROR_OS && Contains(message, "No such file or directory")) {
    return StatusCode::kNotFound;
  }
  switch (code) {
    case GIT_ENOTFOUND:
      return StatusCode::kNotFound;
    case GIT_EEXISTS:
      return StatusCode::kAlreadyExists;
    case GIT_EAUTH:
    case GIT_EOWNER:
      return StatusCode::kPermissionDenied;
    case GIT_ECERTIFICATE:
    case GIT_ELOCKED:
    case GIT_EMODIFIED:
    case GIT_EEOF:
      return StatusCode::kUnavailable;
    case GIT_EUSER:
      return StatusCode::kCancelled;
    case GIT_EMISMATCH:
      return StatusCode::kDataLoss;
    case GIT_EINVALIDSPEC:
    case GIT_EINVALID:
    case GIT_EAMBIGUOUS:
      return StatusCode::kInvalidArgument;
    case GIT_EBAREREPO:
    case GIT_EUNBORNBRANCH:
    case GIT_ENONFASTFORWARD:
    case GIT_EDIRECTORY:
      return StatusCode::kFailedPrecondition;
    default:
      break;
  }
  switch (klass) {
    case GIT_ERROR_NET:
    case GIT_ERROR_HTTP:
    case GIT_ERROR_SSL:
    case GIT_ERROR_SSH:
      return StatusCode::kUnavailable;
    case GIT_ERROR_INDEXER:
    case GIT_ERROR_ZLIB:
    case GIT_ERROR_SHA:
      return StatusCode::kDataLoss;
    case GIT_ERROR_CALLBACK:
      return StatusCode::kCancelled;
    default:
      return StatusCode::kInternal;
  }
}

}  // namespace

Status EnsureLibgit2Initialized() {
  static std::once_flag once;
  static Status outcome;
  std::call_once(once, [] {
    int rc = git_libgit2_init();
    if (rc < 0) {
      outcome = Libgit2Status(rc, "initialise libgit2");
      return;
    }
    rc = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    if (rc < 0) outcome = Libgit2Status(rc, "enable fsync in libgit2");
  });
  return outcome;
}

Status Libgit2Status(int code, std::string_view context) {
  if (code >= 0) return Status::Ok();
  // Read the thread-local error before anything else can call into libgit2.
  const git_error* err = git_error_last();
  int klass = err != nullptr ? err->klass : GIT_ERROR_NONE;
  std::string message = (err != nullptr && err->message != nullptr && err->message[0] != '\0')
                            ? std::string(err->message)
                            : "libgit2 error " + std::to_string(code);
  StatusCode status_code = CodeFor(code, klass, message);
  std::string text(context);
  if (!text.empty()) text += ": ";
  text += message;
  return Status(status_code, RedactUrlCredentials(text));
}

Result<RepositoryPtr> OpenBareRepository(const std::string& dir) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  git_repository* raw = nullptr;
  int rc = git_repository_open_ext(
      &raw, dir.c_str(),
      GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE | GIT_REPOSITORY_OPEN_NO_DOTGIT,
      nullptr);
  RepositoryPtr repo(raw);
  if (rc < 0) return Libgit2Status(rc, "open repository " + dir);
  return repo;
}

}  // namespace mirrord
