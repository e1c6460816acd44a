// SHA-256 over OpenSSL's EVP interface: incremental hashing of data as it arrives (LFS
// downloads hash while writing) and one-shot helpers for strings and files.
#pragma once

#include <openssl/evp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// An incremental SHA-256. Feed bytes with Update() in order, then FinishHex() gives the
// digest and starts a new, empty hash. Allocation or initialisation failures of OpenSSL are
// treated as broken invariants (abort), never as data errors.
// Thread-safety: one thread at a time (movable, not copyable).
class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&&) noexcept = default;
  Sha256& operator=(Sha256&&) noexcept = default;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Appends `data` to the hashed message.
  void Update(std::string_view data);
  // The digest of everything passed to Update() since construction or the last call, as
  // 64 lowercase hex digits. Afterwards the object hashes a new, empty message.
  std::string FinishHex();

 private:
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  void Init();
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx_;
};

// The SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

// The SHA-256 of the file's whole content as 64 lowercase hex digits; on failure the errno
// Status of the open or read, naming the path (NotFound when it does not exist).
Result<std::string> Sha256OfFile(const std::filesystem::path& path);

}  // namespace mirrord
