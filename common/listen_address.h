// ListenAddress: where a listener binds, as written in the config ([server] listen,
// [server] plain_listen, [admin] listen): "HOST:PORT" ("0.0.0.0:8080", "[::1]:8081",
// "localhost:0") or "unix:/absolute/path" (a Unix socket). Pure; fuzzed
// (tests/fuzz/listen_address_fuzzer.cc).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

struct ListenAddress {
  std::string host;                 // without IPv6 brackets; empty for a Unix socket
  uint16_t port = 0;                // 0: a free port (tests)
  std::filesystem::path unix_path;  // set for "unix:/path"

  bool is_unix() const { return !unix_path.empty(); }
  // Back in the config's spelling ("[::1]:8081", "unix:/run/mirrord/admin.sock").
  std::string ToString() const;
};

// InvalidArgument (a one-line reason quoting the text) unless `text` is HOST:PORT with a
// non-empty host without whitespace, '/' or NUL and a decimal port <= 65535, or "unix:"
// followed by an absolute path without NUL and at most 107 bytes (sun_path).
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace mirrord
