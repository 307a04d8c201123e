// The domains vecsync knows, by name.
//
// Example (where the server is composed):
//   const EntityConfigRegistry domains = EntityConfigRegistry::BuiltIn();
//   ASSIGN_OR_RETURN(const EntityConfig* config, domains.Find("action"));
//
// BuiltIn() holds the built-in domains, registered explicitly, one line each, in registry.cc
// (so static linking can never drop one). There is no global registry: whoever composes the
// program makes one and passes it to what needs it; tests may build their own. Register() adds
// a domain; a name registered twice is ALREADY_EXISTS. Thread-safe for lookups once
// registration is done.
#ifndef VECSYNC_ENTITIES_REGISTRY_H_
#define VECSYNC_ENTITIES_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "entities/entity_config.h"

namespace vecsync::entities {

class EntityConfigRegistry {
 public:
  // The built-in domains: action, cohort, event_definition.
  static EntityConfigRegistry BuiltIn();

  EntityConfigRegistry() = default;
  EntityConfigRegistry(EntityConfigRegistry&&) = default;
  EntityConfigRegistry& operator=(EntityConfigRegistry&&) = default;

  absl::Status Register(std::unique_ptr<EntityConfig> config);
  // INVALID_ARGUMENT listing the known domains when `domain` is not one of them.
  absl::StatusOr<const EntityConfig*> Find(const std::string& domain) const;
  std::vector<std::string> Domains() const;

 private:
  std::map<std::string, std::unique_ptr<EntityConfig>, std::less<>> configs_;
};

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_REGISTRY_H_
