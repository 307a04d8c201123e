#include "src/engine/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vecsync::engine {

absl::Status Registry::RegisterWorkflow(std::string name, WorkflowFunction fn,
                                        InputValidator validator) {
  if (name.empty() || !fn) {
    return absl::InvalidArgumentError("a workflow needs a name and a function");
  }
  if (workflows_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("workflow type '", name, "' is registered twice"));
  }
  workflows_.emplace(std::move(name), WorkflowEntry{std::move(fn), std::move(validator)});
  return absl::OkStatus();
}

absl::Status Registry::RegisterActivity(std::string name, ActivityFunction fn) {
  if (name.empty() || !fn) {
    return absl::InvalidArgumentError("an activity needs a name and a function");
  }
  if (activities_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("activity type '", name, "' is registered twice"));
  }
  activities_.emplace(std::move(name), std::move(fn));
  return absl::OkStatus();
}

const WorkflowFunction* Registry::FindWorkflow(absl::string_view name) const {
  auto it = workflows_.find(name);
  return it == workflows_.end() ? nullptr : &it->second.fn;
}

const ActivityFunction* Registry::FindActivity(absl::string_view name) const {
  auto it = activities_.find(name);
  return it == activities_.end() ? nullptr : &it->second;
}

absl::Status Registry::ValidateStart(absl::string_view type, const Json& input) const {
  if (type.empty()) return absl::InvalidArgumentError("workflow_type is required");
  auto it = workflows_.find(type);
  if (it == workflows_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown workflow_type '", type, "'; known types: ", absl::StrJoin(WorkflowTypes(), ", ")));
  }
  if (it->second.validator) return it->second.validator(input);
  return absl::OkStatus();
}

std::vector<std::string> Registry::WorkflowTypes() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : workflows_) names.push_back(name);
  return names;
}

std::vector<std::string> Registry::ActivityTypes() const {
  std::vector<std::string> names;
  for (const auto& [name, fn] : activities_) names.push_back(name);
  return names;
}

}  // namespace vecsync::engine
