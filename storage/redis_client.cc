#include "storage/redis_client.h"

#include <openssl/evp.h>
#include <sys/time.h>

#include <cerrno>
#include <csignal>
#include <mutex>

#include "common/log.h"

namespace mirrord {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  if (ms.count() <= 0) ms = std::chrono::milliseconds(1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

bool IsTimeoutErrno(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT; }

// The reply's error prefix ("WRONGPASS" of "WRONGPASS invalid username-password pair").
std::string_view ErrorPrefix(std::string_view error) {
  size_t space = error.find(' ');
  return space == std::string_view::npos ? error : error.substr(0, space);
}

std::string ReplyText(const redisReply* r) {
  return r->str != nullptr ? std::string(r->str, r->len) : std::string();
}

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

std::string DescribeRedisEndpoint(const RedisConnectOptions& options) {
  std::string out = "redis ";
  if (!options.unix_socket.empty()) {
    out += "unix:" + options.unix_socket;
  } else if (options.host.find(':') != std::string::npos) {
    out += "[" + options.host + "]:" + std::to_string(options.port);
  } else {
    out += options.host + ":" + std::to_string(options.port);
  }
  out += " db " + std::to_string(options.db);
  return out;
}

Status RedisConnectionError(int err, std::string_view errstr, int saved_errno,
                            std::string_view context) {
  std::string message(context);
  message += ": ";
  message += errstr.empty() ? std::string_view("unknown error") : errstr;
#ifdef REDIS_ERR_TIMEOUT
  if (err == REDIS_ERR_TIMEOUT) return DeadlineExceeded(std::move(message));
#endif
  switch (err) {
    case REDIS_ERR_IO:
      if (IsTimeoutErrno(saved_errno)) {
        return DeadlineExceeded(std::move(message) + " (timed out)");
      }
      return Unavailable(std::move(message));
    case REDIS_ERR_EOF:
    case REDIS_ERR_OTHER:
      return Unavailable(std::move(message));
    case REDIS_ERR_OOM:
      return ResourceExhausted(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Status RedisReplyError(std::string_view error, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += PrintableExcerpt(error, 500);
  const std::string_view prefix = ErrorPrefix(error);
  if (prefix == "NOAUTH" || prefix == "WRONGPASS" || prefix == "NOPERM") {
    return PermissionDenied(std::move(message));
  }
  if (prefix == "LOADING" || prefix == "BUSY" || prefix == "MASTERDOWN" || prefix == "TRYAGAIN" ||
      prefix == "CLUSTERDOWN" || prefix == "READONLY" || prefix == "MISCONF") {
    return Unavailable(std::move(message));
  }
  if (prefix == "OOM") return ResourceExhausted(std::move(message));
  if (prefix == "WRONGTYPE") return FailedPrecondition(std::move(message));
  return Internal(std::move(message));
}

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // SHA-1 is what Redis names scripts by; it identifies, it does not protect anything.
  if (EVP_Digest(source_.data(), source_.size(), digest, &length, EVP_sha1(), nullptr) != 1) {
    length = 0;  // EVALSHA then fails with NOSCRIPT and Eval falls back to EVAL
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    sha1_ += kHex[digest[i] >> 4];
    sha1_ += kHex[digest[i] & 0xf];
  }
  if (sha1_.empty()) sha1_ = std::string(40, '0');
}

RedisClient::RedisClient(RedisConnectOptions options)
    : options_(std::move(options)), endpoint_(DescribeRedisEndpoint(options_)) {}

void RedisClient::Disconnect() { ctx_.reset(); }

Status RedisClient::Connect() {
  IgnoreSigpipeOnce();
  ctx_.reset();
  const timeval tv = ToTimeval(options_.timeout);
  errno = 0;
  redisContext* raw = options_.unix_socket.empty()
                          ? redisConnectWithTimeout(options_.host.c_str(), options_.port, tv)
                          : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), tv);
  const int saved_errno = errno;
  if (raw == nullptr) return ResourceExhausted("connect to " + endpoint_ + ": out of memory");
  RedisContextPtr ctx(raw);
  if (ctx->err != 0) {
    return RedisConnectionError(ctx->err, ctx->errstr, saved_errno, "connect to " + endpoint_);
  }
  if (redisSetTimeout(ctx.get(), tv) != REDIS_OK) {
    return RedisConnectionError(ctx->err, ctx->errstr, errno, "set timeout on " + endpoint_);
  }
  if (options_.unix_socket.empty()) {
    // A dead peer behind a silent network is noticed even between commands.
    (void)redisEnableKeepAlive(ctx.get());
  }
  ctx_ = std::move(ctx);

  // The handshake runs on the fresh connection without the resend policy: a failure here
  // is the answer.
  auto handshake = [&](const std::vector<std::string>& argv, std::string_view what) -> Status {
    bool broken = false;
    ASSIGN_OR_RETURN(RedisReplyPtr reply, SendOnce(argv, &broken));
    if (reply->type == REDIS_REPLY_ERROR) {
      return RedisReplyError(ReplyText(reply.get()), std::string(what) + " on " + endpoint_);
    }
    return Status::Ok();
  };
  Status status;
  if (!options_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options_.username.empty()) auth.push_back(options_.username);
    auth.push_back(options_.password);
    status = handshake(auth, "AUTH");
  }
  if (status.ok() && options_.db != 0) {
    status = handshake({"SELECT", std::to_string(options_.db)}, "SELECT");
  }
  if (!status.ok()) ctx_.reset();
  return status;
}

Result<RedisReplyPtr> RedisClient::SendOnce(const std::vector<std::string>& argv, bool* broken) {
  *broken = false;
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  errno = 0;
  void* raw =
      redisCommandArgv(ctx_.get(), static_cast<int>(args.size()), args.data(), lengths.data());
  const int saved_errno = errno;
  if (raw != nullptr) return RedisReplyPtr(static_cast<redisReply*>(raw));
  const int err = ctx_->err;
  Status status =
      RedisConnectionError(err, ctx_->errstr, saved_errno,
                           (argv.empty() ? std::string("?") : argv[0]) + " on " + endpoint_);
  *broken = err == REDIS_ERR_EOF ||
            (err == REDIS_ERR_IO &&
             (saved_errno == EPIPE || saved_errno == ECONNRESET || saved_errno == ENOTCONN));
  ctx_.reset();
  return status;
}

Result<RedisReplyPtr> RedisClient::SendRaw(const std::vector<std::string>& argv) {
  bool fresh = false;
  if (ctx_ == nullptr) {
    RETURN_IF_ERROR(Connect());
    fresh = true;
  }
  bool broken = false;
  Result<RedisReplyPtr> reply = SendOnce(argv, &broken);
  if (reply.ok() || !broken || fresh) return reply;
  MLOG(Info) << endpoint_ << ": connection lost (" << reply.status().message() << "), reconnecting";
  RETURN_IF_ERROR(Connect());
  return SendOnce(argv, &broken);
}

Result<RedisReplyPtr> RedisClient::Command(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, SendRaw(argv));
  if (reply->type == REDIS_REPLY_ERROR) {
    return RedisReplyError(ReplyText(reply.get()),
                           (argv.empty() ? std::string("?") : argv[0]) + " on " + endpoint_);
  }
  return reply;
}

Result<RedisReplyPtr> RedisClient::Eval(const RedisScript& script,
                                        const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(args.size() + 3);
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back("0");
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(RedisReplyPtr reply, SendRaw(argv));
  if (reply->type == REDIS_REPLY_ERROR && ErrorPrefix(ReplyText(reply.get())) == "NOSCRIPT") {
    argv[0] = "EVAL";
    argv[1] = script.source();
    ASSIGN_OR_RETURN(reply, SendRaw(argv));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return RedisReplyError(ReplyText(reply.get()), "script on " + endpoint_);
  }
  return reply;
}

}  // namespace mirrord
