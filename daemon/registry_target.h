// The RegistryTarget a push uses (deploy/image_pusher.h), built from a [registries.NAME]
// entry with its secret files read NOW: a push reads them when it starts, so a rotated
// password or token applies to the next push without a reload; the config's validation
// (daemon/config_reload.h LoadDaemonConfig) reads them too, so a start, a reload and
// --check-config refuse a registry whose secret cannot be read.
// Secrets are never put into a Status message or a log line (only the file's path is).
// Thread-safety: a pure function of the files it reads.
#pragma once

#include "common/build_config.h"
#include "common/status.h"
#include "deploy/image_pusher.h"

namespace mirrord {

// At most this many bytes of a secret file are read; a longer one is refused.
inline constexpr uint64_t kMaxRegistrySecretBytes = 64 * 1024;

// On success: url, ca_file, insecure and the credentials (username + the password file's
// content, or the token file's) with trailing whitespace removed. On failure the read's
// error (NotFound, PermissionDenied, ...) or InvalidArgument (an empty or oversized secret),
// naming the key and the file, e.g. "[registries.lab] password_file /etc/x: ...".
Result<RegistryTarget> ReadRegistryTarget(const RegistryConfig& config);

}  // namespace mirrord
