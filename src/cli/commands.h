// The `vecsync` command line: each Add*Command registers one subcommand on the app.
//
// Every command prints errors as one readable line on stderr and sets the process exit code
// through ExitCode(): 0 on success, 1 on error, 2 for bad usage; `workflow start --wait`
// exits non-zero unless the run completed.
#ifndef VECSYNC_CLI_COMMANDS_H_
#define VECSYNC_CLI_COMMANDS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vecsync::cli {

// Settings shared by commands that talk to PostgreSQL directly.
struct DatabaseFlags {
  std::string pg_url;  // Default: $VECSYNC_PG_URL.
};

// Adds --pg-url (default from VECSYNC_PG_URL) to `command`.
void AddDatabaseFlags(CLI::App* command, DatabaseFlags* flags);

// Parses "90s", "5m", "1h30m"; INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& text, const char* flag);

// Prints `status` as one line ("vecsync: <message>") and records exit code 1.
void Fail(const absl::Status& status);
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

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_COMMANDS_H_
