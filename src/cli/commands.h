// The `vecsync` command line: each Add*Command registers one subcommand on the app.
//
// Conventions every command keeps:
// - Flags may come before or after subcommands (`vecsync workflow list --address h:p -o json`).
// - Errors are one readable line on stderr. The exit code (ExitCode()) is 0 on success, 1 on
//   error, 2 for bad usage (a flag the command does not take, a malformed value, an unknown
//   domain); `workflow start --wait` exits non-zero unless the run completed.
// - `--output json` prints exactly one JSON document on stdout (an array for lists, empty ones
//   included); commands that follow a stream (`watch`) print one document per line instead.
#ifndef VECSYNC_CLI_COMMANDS_H_
#define VECSYNC_CLI_COMMANDS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync::cli {

// Settings shared by commands that talk to PostgreSQL directly.
struct DatabaseFlags {
  std::string pg_url;  // Default: $VECSYNC_PG_URL.
};

// Adds --pg-url (default from VECSYNC_PG_URL) to `command`.
void AddDatabaseFlags(CLI::App* command, DatabaseFlags* flags);

// Parses "90s", "5m", "1h30m"; INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& text, const char* flag);

// Adds --output/-o (text or json) to `command`.
void AddOutputFlag(CLI::App* command, std::string* output);

// Validates a duration flag ("90s", "5m", "1h30m") at parse time, so a bad one is bad usage.
CLI::Validator DurationValidator();
// Validates --domain against the registered entity domains at parse time.
CLI::Validator DomainValidator();

// The text of --input-file: a file's content, or standard input for "-". NOT_FOUND naming the
// file when it cannot be read.
absl::StatusOr<std::string> ReadInputFile(const std::string& path);

// Prints what a command did: `json` as one document with --output json, else `text` as a line.
void PrintOutcome(const std::string& output, const Json& json, const std::string& text);

// Prints `status` as one line ("vecsync: <message> (<CODE>)"; a message of several lines is
// joined) and records exit code 1.
void Fail(const absl::Status& status);
// Prints `message` as one line and records exit code 2 (bad usage found after parsing).
void FailUsage(const std::string& message);
void SetExitCode(int code);
int ExitCode();

void AddMigrateCommand(CLI::App& app);
void AddServerCommand(CLI::App& app);
void AddHealthCommand(CLI::App& app);
void AddWorkflowCommand(CLI::App& app);
void AddScheduleCommand(CLI::App& app);
void AddDevCommand(CLI::App& app);
void AddSearchCommand(CLI::App& app);
void AddEntitiesCommand(CLI::App& app);
void AddStatusCommand(CLI::App& app);
void AddPlanCommand(CLI::App& app);

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_COMMANDS_H_
