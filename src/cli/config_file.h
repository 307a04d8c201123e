// `vecsync server --config FILE` (or $VECSYNC_CONFIG): settings from a file, one per line,
//
//   # comments and blank lines are ignored
//   pg-url = "postgresql://vecsync@db/vecsync"
//   listen = 0.0.0.0:7233
//   no-scheduler = true
//
// where each key is the name of a `vecsync server` flag without its dashes. Precedence is
// flags, then environment variables, then the file: a setting from the file is used only when
// the flag is not on the command line and its environment variable is not set.
#ifndef VECSYNC_CLI_CONFIG_FILE_H_
#define VECSYNC_CLI_CONFIG_FILE_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"

namespace vecsync::cli {

// Returns `args` (argv without the program name) with the config file's settings appended as
// flags, when the command is `server` and a config file is named. NOT_FOUND for a missing file;
// INVALID_ARGUMENT naming the file and line for a malformed line or an unknown setting.
absl::StatusOr<std::vector<std::string>> ApplyConfigFile(const CLI::App& app,
                                                         std::vector<std::string> args);

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_CONFIG_FILE_H_
