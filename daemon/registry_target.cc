#include "daemon/registry_target.h"

#include <cctype>
#include <system_error>

#include "common/file_util.h"

namespace mirrord {
namespace {

Result<std::string> ReadSecret(const RegistryConfig& config, std::string_view key,
                               const std::filesystem::path& file) {
  const std::string where =
      "[registries." + config.name + "] " + std::string(key) + " " + file.string();
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(file, ec);
  if (!ec && size > kMaxRegistrySecretBytes) {
    return InvalidArgument(where + ": longer than " + std::to_string(kMaxRegistrySecretBytes) +
                           " bytes");
  }
  Result<std::string> text = ReadFileToString(file);
  if (!text.ok()) return text.status().WithContext(where);
  std::string secret = std::move(*text);
  if (secret.size() > kMaxRegistrySecretBytes) {
    return InvalidArgument(where + ": longer than " + std::to_string(kMaxRegistrySecretBytes) +
                           " bytes");
  }
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) return InvalidArgument(where + ": the file is empty");
  return secret;
}

}  // namespace

Result<RegistryTarget> ReadRegistryTarget(const RegistryConfig& config) {
  RegistryTarget t;
  t.name = config.name;
  t.url = config.url;
  t.username = config.username;
  t.ca_file = config.ca_file.string();
  t.insecure = config.insecure;
  if (!config.password_file.empty()) {
    ASSIGN_OR_RETURN(t.password, ReadSecret(config, "password_file", config.password_file));
  }
  if (!config.token_file.empty()) {
    ASSIGN_OR_RETURN(t.token, ReadSecret(config, "token_file", config.token_file));
  }
  if (!config.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config.ca_file, ec)) {
      return NotFound("[registries." + config.name + "] ca_file " + config.ca_file.string() +
                      ": not a readable file");
    }
  }
  return t;
}

}  // namespace mirrord
