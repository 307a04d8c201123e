#include "entities/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "entities/action.h"
#include "entities/cohort.h"
#include "entities/event_definition.h"

namespace vecsync::entities {

EntityConfigRegistry EntityConfigRegistry::BuiltIn() {
  EntityConfigRegistry registry;
  // One line per built-in domain. Their names differ, so none is refused.
  (void)registry.Register(NewActionConfig());
  (void)registry.Register(NewCohortConfig());
  (void)registry.Register(NewEventDefinitionConfig());
  return registry;
}

absl::Status EntityConfigRegistry::Register(std::unique_ptr<EntityConfig> config) {
  std::string name = config->domain();
  if (configs_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("domain '", name, "' is registered twice"));
  }
  configs_.emplace(std::move(name), std::move(config));
  return absl::OkStatus();
}

absl::StatusOr<const EntityConfig*> EntityConfigRegistry::Find(const std::string& domain) const {
  auto it = configs_.find(domain);
  if (it == configs_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown domain '", domain, "'; known domains: ", absl::StrJoin(Domains(), ", ")));
  }
  return it->second.get();
}

std::vector<std::string> EntityConfigRegistry::Domains() const {
  std::vector<std::string> names;
  for (const auto& [name, config] : configs_) names.push_back(name);
  return names;
}

}  // namespace vecsync::entities
