// The one place every workflow and activity type vecsync ships is registered.
#ifndef VECSYNC_WORKFLOWS_REGISTER_ALL_H_
#define VECSYNC_WORKFLOWS_REGISTER_ALL_H_

#include "absl/status/status.h"
#include "src/engine/registry.h"
#include "workflows/sync_activities.h"

namespace vecsync::workflows {

// `env` is what the sync activities use; null registers them unusable, which is enough for a
// registry that only validates starts (the CLI's).
absl::Status RegisterAllWorkflows(engine::Registry* registry, SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_REGISTER_ALL_H_
