// `demo-greeting`: a small workflow that shows the engine alive end to end (scripts/demo).
// Input {"name": "..."}; it runs the `demo-greet` activity, sleeps on a durable timer, and
// returns {"greeting": "Hello, <name>!"}.
#ifndef VECSYNC_WORKFLOWS_DEMO_GREETING_H_
#define VECSYNC_WORKFLOWS_DEMO_GREETING_H_

#include "absl/status/status.h"
#include "src/engine/registry.h"

namespace vecsync::workflows {

inline constexpr char kDemoGreetingWorkflow[] = "demo-greeting";

absl::Status RegisterDemoGreeting(engine::Registry* registry);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_DEMO_GREETING_H_
