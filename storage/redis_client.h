// A small blocking Redis client over hiredis: one connection (redisContext) with connect and
// command timeouts, transparent reconnection, Lua scripts by EVALSHA with an EVAL fallback,
// and the one translator from hiredis and Redis errors to Status. Nothing here knows the
// job queue's keys.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// Where and how to connect.
struct RedisConnectOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // non-empty: connect to this socket instead of host:port
  int db = 0;               // SELECTed after connecting
  std::string username;     // ACL user; empty: AUTH with the password alone
  std::string password;     // empty: no AUTH
  std::chrono::milliseconds timeout{2000};  // for connecting, and for each command's reply
};

// "redis unix:/run/redis.sock db 0" or "redis 10.0.0.5:6379 db 2": never the credentials.
std::string DescribeRedisEndpoint(const RedisConnectOptions& options);

// The translator from a failed hiredis call to Status. `err` and `errstr` are the context's
// err/errstr fields and `saved_errno` the errno read right after the failing call (hiredis
// reports socket errors through errno). The message is "context: errstr". Mapping:
//   a timeout (REDIS_ERR_TIMEOUT, or an I/O error with EAGAIN/ETIMEDOUT) -> DeadlineExceeded
//   other I/O errors, end of file (the server went away), REDIS_ERR_OTHER
//   (e.g. the name does not resolve)                                       -> Unavailable
//   REDIS_ERR_OOM                                                          -> ResourceExhausted
//   REDIS_ERR_PROTOCOL and anything else                                   -> Internal
Status RedisConnectionError(int err, std::string_view errstr, int saved_errno,
                            std::string_view context);

// The translator from a Redis error reply ("WRONGTYPE Operation against ...") to Status,
// by the reply's error prefix. The message is "context: <error, quoted printably>".
//   NOAUTH, WRONGPASS, NOPERM                                   -> PermissionDenied
//   LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY,
//   MISCONF (the server cannot persist)                         -> Unavailable
//   OOM                                                         -> ResourceExhausted
//   WRONGTYPE (a foreign key under our names)                   -> FailedPrecondition
//   ERR and anything else                                       -> Internal
Status RedisReplyError(std::string_view error, std::string_view context);

// A Lua script and its SHA-1, computed once locally so that EVALSHA needs no SCRIPT LOAD.
// Thread-safety: immutable.
class RedisScript {
 public:
  explicit RedisScript(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;  // lowercase hex
};

// One connection to one Redis server. Commands are sent with redisCommandArgv, so arguments
// are binary-safe and never parsed as a format string.
//
// Connection handling: the first command connects (AUTH, SELECT). When a command fails
// because the connection is broken (the server closed it or reset it, e.g. after a Redis
// restart), the client reconnects and sends the command once more within the same call;
// if that fails too the call returns the error (Unavailable) and the next call starts over
// with a fresh connection. A command that times out is not resent (Redis may be running
// it); the connection is dropped (its stream can no longer be trusted) and the call fails
// with DeadlineExceeded. Nothing blocks longer than about twice `timeout` per call.
// A resent command may have run once already if the server died between running it and
// answering; callers' commands are either idempotent or tolerate that (see RedisJobQueue).
//
// The process ignores SIGPIPE from the first connection on (a write to a closed socket must
// be an error, not the end of the daemon), as the daemon's main does anyway.
// The password never appears in a Status or a log line.
// Thread-safety: none; one thread at a time (callers serialise with their own lock).
class RedisClient {
 public:
  // No I/O: the first command (or Connect()) opens the connection.
  explicit RedisClient(RedisConnectOptions options);
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // (Re)opens the connection now. On success it is authenticated and on the configured db.
  // On failure no connection is kept: Unavailable (refused, no such socket, name does not
  // resolve), DeadlineExceeded (connect timeout), PermissionDenied (AUTH refused).
  Status Connect();

  // Drops the connection, if any; the next command reconnects.
  void Disconnect();
  bool connected() const { return ctx_ != nullptr; }

  // Sends one command and returns its reply, which is never an error reply: those become
  // a Status through RedisReplyError. Connection failures as described above.
  Result<RedisReplyPtr> Command(const std::vector<std::string>& argv);

  // Runs `script` with no KEYS and `args` as ARGV: EVALSHA first, EVAL when the server does
  // not have the script cached (NOSCRIPT, e.g. after a restart or SCRIPT FLUSH).
  Result<RedisReplyPtr> Eval(const RedisScript& script, const std::vector<std::string>& args);

  const std::string& endpoint() const { return endpoint_; }

 private:
  // One attempt on the current connection. A null reply (I/O failure) drops the connection;
  // `*broken` then says whether it failed because the peer closed or reset it (resendable)
  // rather than by a timeout or a protocol error. Error replies are returned as replies.
  Result<RedisReplyPtr> SendOnce(const std::vector<std::string>& argv, bool* broken);
  // SendOnce with the reconnect-once policy.
  Result<RedisReplyPtr> SendRaw(const std::vector<std::string>& argv);

  RedisConnectOptions options_;
  std::string endpoint_;
  RedisContextPtr ctx_;
};

}  // namespace mirrord
