// Shell completion for mirrorctl, generated from its CLI11 command model, so a command or
// flag added in main.cc is completed without further work. CLI11 (2.1) has no completion
// generator of its own.
// Thread-safety: pure function of the app.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace mirrord {

// A bash completion script for `app` (usable from zsh after `autoload bashcompinit &&
// bashcompinit`): completes command names, each command's flags plus the global ones, and
// file names after flags whose type name is FILE; the word after any flag that takes a value
// is never taken for the command name.
std::string BashCompletionScript(const CLI::App& app);

}  // namespace mirrord
