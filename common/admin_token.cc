#include "common/admin_token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/file_util.h"

namespace mirrord {
namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}
}  // namespace

Result<std::string> ReadTokenFile(const std::filesystem::path& file) {
  auto text = ReadFileToString(file);
  if (!text) return text.error();
  std::string token = Trim(std::move(*text));
  if (token.empty()) return FailedPrecondition("token file " + file.string() + " is empty");
  return token;
}

Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      return FailedPrecondition("admin token file " + file.string() +
                                " is readable by other users; chmod 600 it");
    }
    return ReadTokenFile(file);
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "stat " + file.string());
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Internal("no randomness for the admin token");
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : raw) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  if (!file.parent_path().empty()) RETURN_IF_ERROR(CreateDirectories(file.parent_path()));
  RETURN_IF_ERROR(WriteFileAtomically(file, token + "\n", 0600));
  return token;
}

bool ParseBearerToken(std::string_view header, std::string_view* token) {
  size_t space = header.find(' ');
  if (space != 6) return false;
  for (size_t i = 0; i < 6; ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != "bearer"[i]) return false;
  }
  std::string_view t = header.substr(space);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  *token = t;
  return true;
}

bool SecretsEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mirrord
