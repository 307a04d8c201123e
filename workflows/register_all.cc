#include "workflows/register_all.h"

#include "src/common/status_macros.h"
#include "workflows/demo_greeting.h"
#include "workflows/sync/sync_entity_vectors.h"
#include "workflows/sync/sync_migrations.h"

namespace vecsync::workflows {

absl::Status RegisterAllWorkflows(engine::Registry* registry, const SyncEnvironment* env) {
  RETURN_IF_ERROR(RegisterDemoGreeting(registry));
  RETURN_IF_ERROR(RegisterSyncEntityVectors(registry, env));
  return absl::OkStatus();
}

std::vector<const engine::MigrationSet*> AllMigrationSets() {
  return {&engine::EngineMigrations(), &SyncMigrations()};
}

absl::StatusOr<int> MigrateAll(PgConnection& conn) {
  int applied = 0;
  for (const engine::MigrationSet* set : AllMigrationSets()) {
    ASSIGN_OR_RETURN(std::vector<int> versions, engine::Migrate(conn, *set));
    applied += static_cast<int>(versions.size());
  }
  return applied;
}

}  // namespace vecsync::workflows
