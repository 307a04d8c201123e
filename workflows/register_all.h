// The one place every workflow and activity type vecsync ships is registered.
#ifndef VECSYNC_WORKFLOWS_REGISTER_ALL_H_
#define VECSYNC_WORKFLOWS_REGISTER_ALL_H_

#include "absl/status/status.h"
#include "src/engine/registry.h"

namespace vecsync::workflows {

absl::Status RegisterAllWorkflows(engine::Registry* registry);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_REGISTER_ALL_H_
