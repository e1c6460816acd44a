#include "common/admin_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/file_util.h"

namespace mirrord {
namespace {
std::string Trim(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
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

namespace {

// Checks the mode of an existing token file and reads it.
Result<std::string> ReadPrivateToken(const std::filesystem::path& file, const struct stat& st) {
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("admin token file " + file.string() +
                              " is readable by other users; chmod 600 it");
  }
  return ReadTokenFile(file);
}

// Creates `file` holding `contents` (mode 0600) only if it does not exist, whole or not at
// all: the bytes go to a private temporary file first (fdatasync), which is then hard-linked
// to `file` (link() fails with EEXIST when another process got there first). true: ours was
// published; false: the file already existed.
Result<bool> CreateExclusively(const std::filesystem::path& file, std::string_view contents) {
  std::filesystem::path tmp = file;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(::gettid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(errno, "create " + tmp.string());
  struct Unlink {
    const std::filesystem::path& path;
    ~Unlink() { ::unlink(path.c_str()); }
  } cleanup{tmp};
  RETURN_IF_ERROR(WriteAll(fd.get(), contents));
  if (::fdatasync(fd.get()) != 0) return ErrnoStatus(errno, "fdatasync " + tmp.string());
  if (::link(tmp.c_str(), file.c_str()) != 0) {
    if (errno == EEXIST) return false;
    return ErrnoStatus(errno, "link " + file.string());
  }
  RETURN_IF_ERROR(FsyncDirectory(file.parent_path().empty() ? "." : file.parent_path()));
  return true;
}

}  // namespace

Result<std::string> LoadOrCreateAdminToken(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) return ReadPrivateToken(file, st);
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
  RETURN_IF_ERROR(CreateExclusively(file, token + "\n").status());
  // Re-read whoever won: several nodes starting together on one root must all answer with
  // the token that is in the file, not the one each of them generated.
  if (::stat(file.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + file.string());
  return ReadPrivateToken(file, st);
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
