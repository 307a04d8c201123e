#include "entities/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "entities/action.h"
#include "entities/cohort.h"
#include "entities/event_definition.h"

namespace vecsync::entities {

const EntityConfigRegistry& EntityConfigRegistry::Default() {
  static const EntityConfigRegistry* registry = [] {
    auto* r = new EntityConfigRegistry;
    // One line per built-in domain.
    (void)r->Register(NewActionConfig());
    (void)r->Register(NewCohortConfig());
    (void)r->Register(NewEventDefinitionConfig());
    return r;
  }();
  return *registry;
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
