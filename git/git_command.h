// Runs one of git's own commands (or any program) to completion, without a shell.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

// Runs argv (argv[0] looked up in PATH when it has no '/') with LC_ALL=C, `stdin_data` on
// stdin (else /dev/null), stdout discarded, and the tail of stderr collected.
// On success the command exited 0. On failure the Status names the command, its exit
// status and its stderr tail: NotFound when it cannot be started, ResourceExhausted when
// it ran out of disk, else Internal. Blocking: call from a worker thread.
// With `stdout_text`, stdout is kept there instead (at most `kMaxGitStdout` bytes; the rest is
// dropped and stdout_text ends there).
inline constexpr size_t kMaxGitStdout = 16u << 20;
Status RunGitCommand(const std::vector<std::string>& argv, std::string_view stdin_data = {},
                     std::string* stdout_text = nullptr);

}  // namespace mirrord
