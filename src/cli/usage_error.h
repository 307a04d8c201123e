// How the CLI reports bad usage: one line naming the command, the problem and the help to read.
// Callers exit 2.
#ifndef VECSYNC_CLI_USAGE_ERROR_H_
#define VECSYNC_CLI_USAGE_ERROR_H_

#include <string>

#include "CLI/CLI.hpp"

namespace vecsync::cli {

// "vecsync workflow: unknown command 'bogus' (one of: start, …) (see `vecsync workflow --help`)"
// for `error`, raised while `app` parsed the command line.
std::string DescribeUsageError(const CLI::App& app, const CLI::ParseError& error);

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_USAGE_ERROR_H_
