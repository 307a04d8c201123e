#include "workflows/register_all.h"

#include "src/common/status_macros.h"
#include "workflows/demo_greeting.h"
#include "workflows/sync/sync_entity_vectors.h"

namespace vecsync::workflows {

absl::Status RegisterAllWorkflows(engine::Registry* registry, const SyncEnvironment* env) {
  RETURN_IF_ERROR(RegisterDemoGreeting(registry));
  RETURN_IF_ERROR(RegisterSyncEntityVectors(registry, env));
  return absl::OkStatus();
}

}  // namespace vecsync::workflows
