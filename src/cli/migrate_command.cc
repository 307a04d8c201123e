#include <iostream>

#include "src/cli/commands.h"
#include "src/common/pg.h"
#include "src/engine/migrations.h"

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
    auto applied = engine::Migrate(**conn);
    if (!applied.ok()) return Fail(applied.status());
    std::cout << "schema at version " << engine::LatestSchemaVersion() << " (" << applied->size()
              << " migration" << (applied->size() == 1 ? "" : "s") << " applied)\n";
  });
}

}  // namespace vecsync::cli
