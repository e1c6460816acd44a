// Fuzz target for the [server] and [admin] sections of the config (the TLS, plain listener,
// access log and admin listener keys among them), parsed by ParseConfig. Invariants on every
// accepted input: tls_cert and tls_key are both set or both empty; plain_listen implies TLS;
// every listener address re-parses to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/listen_address.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckAddress(const std::optional<mirrord::ListenAddress>& a) {
  if (!a) return;
  auto again = mirrord::ParseListenAddress(a->ToString());
  Check(again.ok() && again->host == a->host && again->port == a->port &&
        again->unix_path == a->unix_path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte chooses the section ('A': [admin], else [server]), the rest is its body.
  if (input.empty()) return 0;
  const bool admin = input.front() == 'A';
  std::string text = std::string(admin ? "[admin]\n" : "[server]\n") + std::string(input.substr(1));
  auto config = mirrord::ParseConfig(text, "fuzz.toml");
  if (!config.ok()) return 0;
  Check(config->tls_cert.empty() == config->tls_key.empty());
  Check(!config->plain_listen || !config->tls_cert.empty());
  CheckAddress(config->plain_listen);
  CheckAddress(config->admin_listen);
  return 0;
}
