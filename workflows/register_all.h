// The one place every workflow and activity type vecsync ships is registered.
#ifndef VECSYNC_WORKFLOWS_REGISTER_ALL_H_
#define VECSYNC_WORKFLOWS_REGISTER_ALL_H_

#include <vector>

#include "absl/status/status.h"
#include "src/engine/migrations.h"
#include "src/engine/registry.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

// `env` is what the sync activities use, and `env->domains` what its input may name. It must
// outlive the registry's users.
absl::Status RegisterAllWorkflows(engine::Registry* registry, const SyncEnvironment* env);

// Every migration set, in the order they are applied: the engine's, then each workflow's.
std::vector<const engine::MigrationSet*> AllMigrationSets();

// Applies every set's migrations; returns how many it applied.
absl::StatusOr<int> MigrateAll(PgConnection& conn);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_REGISTER_ALL_H_
