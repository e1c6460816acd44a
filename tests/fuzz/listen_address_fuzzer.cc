// Fuzz target for ParseListenAddress ([server] listen, plain_listen, [admin] listen:
// "HOST:PORT" or "unix:/path"). Invariants on every input:
//  - an accepted address prints (ToString) to text that parses back to the same address;
//  - a Unix socket path is absolute, NUL-free and fits sun_path; a host is non-empty and
//    has no whitespace, '/' or brackets.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/listen_address.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = mirrord::ParseListenAddress(input);
  if (!parsed.ok()) return 0;
  if (parsed->is_unix()) {
    const std::string path = parsed->unix_path.string();
    Check(!path.empty() && path.front() == '/' && path.size() <= 107);
    Check(path.find('\0') == std::string::npos);
    Check(parsed->host.empty());
  } else {
    Check(!parsed->host.empty());
    for (char c : parsed->host) {
      auto u = static_cast<unsigned char>(c);
      Check(u > 0x20 && u != 0x7f && c != '/' && c != '[' && c != ']');
    }
  }
  auto again = mirrord::ParseListenAddress(parsed->ToString());
  Check(again.ok());
  Check(again->host == parsed->host && again->port == parsed->port &&
        again->unix_path == parsed->unix_path);
  return 0;
}
