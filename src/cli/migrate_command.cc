#include <iostream>

#include "absl/strings/str_cat.h"
#include "src/cli/commands.h"
#include "src/common/pg.h"
#include "workflows/register_all.h"

namespace vecsync::cli {

void AddMigrateCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static DatabaseFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand(
      "migrate", "Create or upgrade vecsync's PostgreSQL schema (also done at server start)");
  AddDatabaseFlags(cmd, flags);
  cmd->callback([flags] {
    auto conn = PgConnection::Connect(flags->pg_url);
    if (!conn.ok()) return Fail(conn.status());
    auto applied = workflows::MigrateAll(**conn);
    if (!applied.ok()) return Fail(applied.status());
    std::string versions;
    for (const engine::MigrationSet* set : workflows::AllMigrationSets()) {
      absl::StrAppend(&versions, versions.empty() ? "" : ", ", set->component, " ", set->latest());
    }
    std::cout << "schema at versions " << versions << " (" << *applied << " migration"
              << (*applied == 1 ? "" : "s") << " applied)\n";
  });
}

}  // namespace vecsync::cli
