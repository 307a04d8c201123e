// Workflow and activity types, registered by name.
//
// Register everything before a Worker or Client uses the registry; afterwards it is read-only
// and safe to share between threads.
//
// Example:
//   Registry registry;
//   RETURN_IF_ERROR(registry.RegisterActivity("greet", GreetActivity));
//   RETURN_IF_ERROR(registry.RegisterWorkflow("greeting", GreetingWorkflow));
#ifndef VECSYNC_ENGINE_REGISTRY_H_
#define VECSYNC_ENGINE_REGISTRY_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/json.h"
#include "src/engine/activity_context.h"
#include "src/engine/workflow_context.h"

namespace vecsync::engine {

using WorkflowFunction = std::function<absl::StatusOr<Json>(WorkflowContext&, const Json& input)>;
using ActivityFunction = std::function<absl::StatusOr<Json>(ActivityContext&, const Json& input)>;
// Checks a workflow's input when it is started; INVALID_ARGUMENT naming the bad field.
using InputValidator = std::function<absl::Status(const Json& input)>;

class Registry {
 public:
  // ALREADY_EXISTS when the name is taken; INVALID_ARGUMENT for an empty name or function.
  absl::Status RegisterWorkflow(std::string name, WorkflowFunction fn,
                                InputValidator validator = nullptr);
  absl::Status RegisterActivity(std::string name, ActivityFunction fn);

  // nullptr when the name is unknown.
  const WorkflowFunction* FindWorkflow(absl::string_view name) const;
  const ActivityFunction* FindActivity(absl::string_view name) const;

  // OK when `type` is registered and its validator accepts `input`; INVALID_ARGUMENT listing
  // the known types otherwise.
  absl::Status ValidateStart(absl::string_view type, const Json& input) const;

  std::vector<std::string> WorkflowTypes() const;
  std::vector<std::string> ActivityTypes() const;

 private:
  struct WorkflowEntry {
    WorkflowFunction fn;
    InputValidator validator;
  };
  std::map<std::string, WorkflowEntry, std::less<>> workflows_;
  std::map<std::string, ActivityFunction, std::less<>> activities_;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_REGISTRY_H_
