#include "daemon/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

namespace mirrord {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's queued reason (and clears the queue), else `fallback`.
std::string OpenSslReason(const boost::system::error_code& ec) {
  std::string reason;
  unsigned long e = 0;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    reason = buf;  // the last one is the most specific here
  }
  if (reason.empty()) reason = ec ? ec.message() : "unknown error";
  return reason;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> LoadServerTlsContext(const std::filesystem::path& cert_file,
                                                           const std::filesystem::path& key_file) {
  ERR_clear_error();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Internal("TLS: cannot require TLS 1.2: " + OpenSslReason({}));
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file.string(), ec);
  if (ec) {
    return InvalidArgument("[server] tls_cert " + cert_file.string() + ": " + OpenSslReason(ec));
  }
  context->use_private_key_file(key_file.string(), ssl::context::pem, ec);
  if (ec) {
    return InvalidArgument("[server] tls_key " + key_file.string() + ": " + OpenSslReason(ec));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument("[server] tls_key " + key_file.string() +
                           " does not match the certificate in " + cert_file.string() + ": " +
                           OpenSslReason({}));
  }
  return context;
}

Result<std::unique_ptr<ServerTls>> ServerTls::Load(const std::filesystem::path& cert_file,
                                                   const std::filesystem::path& key_file) {
  ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> context,
                   LoadServerTlsContext(cert_file, key_file));
  return std::unique_ptr<ServerTls>(new ServerTls(std::move(context)));
}

Status ServerTls::Reload(const std::filesystem::path& cert_file,
                         const std::filesystem::path& key_file) {
  ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> context,
                   LoadServerTlsContext(cert_file, key_file));
  current_.store(std::move(context));
  return Status::Ok();
}

}  // namespace mirrord
