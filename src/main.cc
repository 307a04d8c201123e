// vecsync: keeps vector embeddings of database entities in sync, as a durable workflow worker.
#include "CLI/CLI.hpp"
#include "src/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "vecsync keeps vector embeddings of database entities in sync.\n"
      "Run `vecsync <command> --help` for a command's settings."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vecsync 0.1.0");
  vecsync::cli::AddServerCommand(app);
  vecsync::cli::AddMigrateCommand(app);
  vecsync::cli::AddHealthCommand(app);
  vecsync::cli::AddWorkflowCommand(app);
  vecsync::cli::AddScheduleCommand(app);
  vecsync::cli::AddDevCommand(app);
  vecsync::cli::AddSearchCommand(app);
  vecsync::cli::AddEntitiesCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return vecsync::cli::ExitCode();
}
