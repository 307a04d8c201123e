// vecsync: keeps vector embeddings of database entities in sync, as a durable workflow worker.
#include <algorithm>
#include <iostream>

#include "CLI/CLI.hpp"
#include "src/cli/commands.h"
#include "src/cli/config_file.h"
#include "src/cli/usage_error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "vecsync keeps vector embeddings of database entities in sync.\n"
      "Run `vecsync <command> --help` for a command's settings."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vecsync 0.1.0");
  // A command's flags may follow its subcommands (`vecsync workflow list --address …`), as with
  // kubectl, gh or temporal. Subcommands inherit this.
  app.fallthrough();
  vecsync::cli::AddServerCommand(app);
  vecsync::cli::AddMigrateCommand(app);
  vecsync::cli::AddHealthCommand(app);
  vecsync::cli::AddWorkflowCommand(app);
  vecsync::cli::AddScheduleCommand(app);
  vecsync::cli::AddDevCommand(app);
  vecsync::cli::AddSearchCommand(app);
  vecsync::cli::AddEntitiesCommand(app);
  vecsync::cli::AddStatusCommand(app);
  vecsync::cli::AddPlanCommand(app);
  // A config file's settings become flags, after those given and those in the environment.
  absl::StatusOr<std::vector<std::string>> args =
      vecsync::cli::ApplyConfigFile(app, std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) {
    std::cerr << "vecsync: " << args.status().message() << "\n";
    return 2;
  }
  std::reverse(args->begin(), args->end());  // CLI11 takes the arguments last first.
  try {
    app.parse(*args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version.
    std::cerr << vecsync::cli::DescribeUsageError(app, e) << "\n";
    return 2;
  }
  return vecsync::cli::ExitCode();
}
