// The domains vecsync knows, by name.
//
// Example:
//   ASSIGN_OR_RETURN(const EntityConfig* config, EntityConfigRegistry::Default().Find("action"));
//
// Default() holds the built-in domains (registered in registry.cc). Register() adds one; a name
// registered twice is ALREADY_EXISTS. Tests may build their own registry. Thread-safe for
// lookups once registration is done.
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
  static const EntityConfigRegistry& Default();

  absl::Status Register(std::unique_ptr<EntityConfig> config);
  // INVALID_ARGUMENT listing the known domains when `domain` is not one of them.
  absl::StatusOr<const EntityConfig*> Find(const std::string& domain) const;
  std::vector<std::string> Domains() const;

 private:
  std::map<std::string, std::unique_ptr<EntityConfig>, std::less<>> configs_;
};

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_REGISTRY_H_
