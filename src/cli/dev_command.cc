// `vecsync dev seed`: fills PostHog-shaped source tables with sample rows (demo, tests, bench).
#include <iostream>

#include "entities/sample_data.h"
#include "src/cli/commands.h"
#include "src/common/pg.h"

namespace vecsync::cli {

void AddDevCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static DatabaseFlags db_storage;
  auto* db = &db_storage;
  static entities::SeedOptions options_storage;
  auto* options = &options_storage;
  CLI::App* dev = app.add_subcommand("dev", "Developer tools");
  dev->require_subcommand(1);
  CLI::App* seed = dev->add_subcommand(
      "seed", "Create PostHog-shaped source tables if absent and add sample rows");
  AddDatabaseFlags(seed, db);
  seed->add_option("--teams", options->teams, "Teams (two per organization)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  seed->add_option("--first-team-id", options->first_team_id,
                   "Id of the first team (teams and organizations are numbered from it)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  seed->add_option("--actions", options->actions, "Actions to add")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  seed->add_option("--cohorts", options->cohorts, "Cohorts to add")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  seed->add_option("--event-definitions", options->event_definitions, "Event definitions to add")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  seed->callback([db, options] {
    auto conn = PgConnection::Connect(db->pg_url);
    if (!conn.ok()) return Fail(conn.status());
    if (absl::Status s = entities::SeedSourceTables(**conn, *options); !s.ok()) return Fail(s);
    std::cout << "seeded " << options->actions << " actions, " << options->cohorts
              << " cohorts and " << options->event_definitions << " event definitions across "
              << options->teams << " teams\n";
  });
}

}  // namespace vecsync::cli
