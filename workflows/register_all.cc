#include "workflows/register_all.h"

#include "src/common/status_macros.h"
#include "workflows/demo_greeting.h"

namespace vecsync::workflows {

absl::Status RegisterAllWorkflows(engine::Registry* registry) {
  RETURN_IF_ERROR(RegisterDemoGreeting(registry));
  return absl::OkStatus();
}

}  // namespace vecsync::workflows
