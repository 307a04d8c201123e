// `vecsync entities failed --domain X [--retry]`: lists the entities whose sync failed (with
// their last error); --retry lifts their quarantine so the next run tries them again.
#include <iostream>

#include "entities/registry.h"
#include "src/cli/commands.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "workflows/sync/failed_entities.h"

namespace vecsync::cli {
namespace {

struct EntitiesFlags {
  DatabaseFlags db;
  std::string domain;
  bool retry = false;
  bool quarantined_only = false;
  std::string output = "text";
};

void ListFailed(const EntitiesFlags& flags) {
  if (auto known = entities::EntityConfigRegistry::BuiltIn().Find(flags.domain); !known.ok()) {
    return Fail(known.status());
  }
  auto conn = PgConnection::Connect(flags.db.pg_url);
  if (!conn.ok()) return Fail(conn.status());
  auto failed = workflows::ListFailedEntities(**conn, flags.domain, flags.quarantined_only);
  if (!failed.ok()) return Fail(failed.status());
  for (const auto& e : *failed) {
    if (flags.output == "json") {
      std::cout << Json{{"team_id", e.team_id},
                        {"entity_id", e.entity_id},
                        {"failures", e.failures},
                        {"quarantined", e.quarantined},
                        {"last_error", e.last_error}}
                       .dump()
                << "\n";
    } else {
      std::cout << "team " << e.team_id << "  id " << e.entity_id << "  " << e.failures
                << " failure(s)" << (e.quarantined ? "  QUARANTINED" : "") << "  " << e.last_error
                << "\n";
    }
  }
  if (failed->empty() && flags.output != "json") {
    std::cout << "no failed " << flags.domain << " entities\n";
  }
  if (!flags.retry || failed->empty()) return;
  auto retried = workflows::RetryFailedEntities(**conn, flags.domain, flags.quarantined_only);
  if (!retried.ok()) return Fail(retried.status());
  std::cout << *retried << " entit" << (*retried == 1 ? "y" : "ies")
            << " will be retried by the next sync of " << flags.domain << "\n";
}

}  // namespace

void AddEntitiesCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static EntitiesFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* entities = app.add_subcommand("entities", "Inspect the sync state of entities");
  entities->require_subcommand(1);
  CLI::App* failed = entities->add_subcommand(
      "failed", "List entities whose sync failed (quarantined ones first); --retry retries them");
  AddDatabaseFlags(failed, &flags->db);
  failed->add_option("--domain", flags->domain, "Domain, e.g. action")->required();
  failed->add_flag("--retry", flags->retry, "Lift their quarantine so the next run retries them");
  failed->add_flag("--quarantined", flags->quarantined_only, "Only quarantined entities");
  failed->add_option("--output", flags->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  failed->callback([flags] { ListFailed(*flags); });
}

}  // namespace vecsync::cli
