// Status and Result<T>: how every fallible function in mirrord reports failure.
// No exceptions cross component boundaries; upstream, disk and network failures are values.
#pragma once

#include <cassert>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mirrord {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong (bad name, bad config value)
  kNotFound,            // the thing asked for does not exist (repo, ref, upstream 404)
  kAlreadyExists,       // a create collided with something different
  kPermissionDenied,    // auth failed (bad token, upstream 401/403)
  kUnavailable,         // a network or upstream failure worth retrying later
  kDeadlineExceeded,    // a transfer stalled or a timeout expired
  kCancelled,           // stopped on request (shutdown)
  kDataLoss,            // bytes are not what they should be (hash or size mismatch)
  kResourceExhausted,   // disk full, rate limited, too large
  kFailedPrecondition,  // the system is not in a state that allows this
  kInternal,            // an invariant broke or a library failed unexpectedly
};

std::string_view StatusCodeName(StatusCode code);

// A Status is either OK or a code plus a human-readable message with context, and the
// typed facts a caller acts on (never parsed back out of the message):
//  - retry_after: how long the failing side asked us to wait before trying again (an
//    upstream's HTTP Retry-After, a rate limit's reset time). Unset: it said nothing.
// Thread-safety: a value type; copies are independent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message" (OK stays OK); typed facts are kept.
  Status WithContext(std::string_view context) const;

  // The wait the failing side asked for, if it named one.
  const std::optional<std::chrono::seconds>& retry_after() const { return retry_after_; }
  // Returns a copy carrying `wait` (negative waits count as 0) as retry_after. OK stays OK.
  Status WithRetryAfter(std::chrono::seconds wait) const;

  // "NotFound: repo foo is not mirrored", or "OK".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.retry_after_ == b.retry_after_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<std::chrono::seconds> retry_after_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Status for an errno value from a failed system call: "what: strerror(err)".
// ENOSPC/EDQUOT map to kResourceExhausted, ENOENT to kNotFound, EACCES to kPermissionDenied.
Status ErrnoStatus(int err, std::string_view what);

// Result<T>: a T or a non-OK Status; shaped like std::expected<T, Status>.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result constructed from an OK Status");
  }

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // Rvalue access moves the value out, so `*F()` never dangles.
  T value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; OK when a value is held.
  Status status() const { return has_value() ? Status::Ok() : std::get<1>(v_); }
  const Status& error() const { return std::get<1>(v_); }

  T value_or(T fallback) const& { return has_value() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mirrord

#define MIRRORD_CONCAT_INNER(a, b) a##b
#define MIRRORD_CONCAT(a, b) MIRRORD_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::mirrord::Status _mirrord_status = (expr);        \
    if (!_mirrord_status.ok()) return _mirrord_status; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, ResultExpr())`: binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(MIRRORD_CONCAT(_mirrord_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.has_value()) return tmp.error();   \
  lhs = std::move(tmp).value()
