// The key of an entity within its domain: (team_id, id). Ids travel as text whatever their SQL
// type; keys order by team, then id, which is ClickHouse's order within a domain.
#ifndef VECSYNC_WORKFLOWS_SYNC_ENTITY_KEY_H_
#define VECSYNC_WORKFLOWS_SYNC_ENTITY_KEY_H_

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/json.h"

namespace vecsync::workflows {

struct EntityKey {
  int64_t team_id = 0;
  std::string id;

  auto operator<=>(const EntityKey&) const = default;
};

// Keys as JSON: [[team_id, "id"], …].
Json EntityKeysToJson(const std::vector<EntityKey>& keys);
// INVALID_ARGUMENT naming `field` when `json` is not such an array.
absl::StatusOr<std::vector<EntityKey>> EntityKeysFromJson(const Json& json, const char* field);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_ENTITY_KEY_H_
