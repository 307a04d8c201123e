#include "workflows/demo_greeting.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

absl::Status ValidateInput(const Json& input) {
  for (const auto& [key, value] : input.items()) {
    if (key != "name") {
      return absl::InvalidArgumentError(
          absl::StrCat("demo-greeting: unknown input field '", key, "' (expected: name)"));
    }
    if (!value.is_string()) {
      return absl::InvalidArgumentError("demo-greeting: input field 'name' must be a string");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> Greet(engine::ActivityContext&, const Json& input) {
  return Json{{"greeting", absl::StrCat("Hello, ", input.value("name", "world"), "!")}};
}

absl::StatusOr<Json> Greeting(engine::WorkflowContext& ctx, const Json& input) {
  engine::ActivityOptions options;
  options.start_to_close_timeout = absl::Seconds(10);
  RETURN_IF_ERROR(ctx.SetProgress({{"step", "greeting"}, {"done", 0}, {"total", 2}}));
  ASSIGN_OR_RETURN(Json greeting, ctx.ExecuteActivity("demo-greet", input, options));
  RETURN_IF_ERROR(ctx.SetProgress({{"step", "resting"}, {"done", 1}, {"total", 2}}));
  RETURN_IF_ERROR(ctx.Sleep(absl::Milliseconds(200)));
  RETURN_IF_ERROR(ctx.SetProgress({{"step", "done"}, {"done", 2}, {"total", 2}}));
  return greeting;
}

}  // namespace

absl::Status RegisterDemoGreeting(engine::Registry* registry) {
  RETURN_IF_ERROR(registry->RegisterActivity("demo-greet", Greet));
  return registry->RegisterWorkflow(kDemoGreetingWorkflow, Greeting, ValidateInput);
}

}  // namespace vecsync::workflows
