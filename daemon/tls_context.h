// ServerTls: the certificate and key a TLS listener serves ([server] tls_cert, tls_key: PEM
// files; the certificate file may hold the chain after the leaf). TLS 1.2 and 1.3 only,
// with OpenSSL's default (Debian: SECLEVEL 2) ciphers; no compression, no renegotiation.
//
// Reload() (SIGHUP) builds a new context from the files; new connections get it from
// Current(), connections already open keep the one they started with. A reload whose files
// do not load (missing, not PEM, key not matching the certificate) changes nothing.
//
// Thread-safety: Current() and Reload() from any thread at once.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>

#include "common/status.h"

namespace mirrord {

// A server context for `cert_file` and `key_file`. InvalidArgument naming the file and
// OpenSSL's reason when one does not load or the key does not match the certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadServerTlsContext(
    const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

class ServerTls {
 public:
  static Result<std::unique_ptr<ServerTls>> Load(const std::filesystem::path& cert_file,
                                                 const std::filesystem::path& key_file);

  // The context for a new connection; never null.
  std::shared_ptr<boost::asio::ssl::context> Current() const { return current_.load(); }

  // Loads the files again (their paths may have changed with the config). On failure the
  // running context stays and the error says why.
  Status Reload(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

 private:
  explicit ServerTls(std::shared_ptr<boost::asio::ssl::context> context)
      : current_(std::move(context)) {}
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> current_;
};

}  // namespace mirrord
