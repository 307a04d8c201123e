#include "workflows/sync/entity_key.h"

#include "absl/strings/str_cat.h"

namespace vecsync::workflows {

Json EntityKeysToJson(const std::vector<EntityKey>& keys) {
  Json out = Json::array();
  for (const EntityKey& key : keys) out.push_back(Json::array({key.team_id, key.id}));
  return out;
}

absl::StatusOr<std::vector<EntityKey>> EntityKeysFromJson(const Json& json, const char* field) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be an array of [team_id, \"id\"] pairs"));
  };
  if (!json.is_array()) return bad();
  std::vector<EntityKey> keys;
  keys.reserve(json.size());
  for (const Json& k : json) {
    if (!k.is_array() || k.size() != 2 || !k[0].is_number_integer() || !k[1].is_string()) {
      return bad();
    }
    keys.push_back({k[0].get<int64_t>(), k[1].get<std::string>()});
  }
  return keys;
}

}  // namespace vecsync::workflows
