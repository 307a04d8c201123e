// What vecsync needs to know about one kind of entity (a "domain"): where its rows live, how to
// describe one to the summarizer, and what to store beside its vector. The sync workflow is
// generic; everything domain-specific lives in an EntityConfig.
//
// Adding a domain: a new file pair entities/<domain>.{h,cc} whose .cc defines a factory, and
// one line in entities/registry.cc (registration is explicit, from that one place, so static
// linking can never drop a domain).
//
// Source tables are read-only for vecsync. Every domain's table has team_id and updated_at;
// teams belong to organizations through posthog_team(id, organization_id), and only
// organizations with is_ai_data_processing_approved are synced.
#ifndef VECSYNC_ENTITIES_ENTITY_CONFIG_H_
#define VECSYNC_ENTITIES_ENTITY_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync::entities {

// One entity as read from its source table.
struct EntityRecord {
  int64_t team_id = 0;
  std::string id;
  absl::Time updated_at;
  bool deleted = false;
  Json fields;  // The object built by EntityConfig::fields_sql().
};

// Implementations are stateless and thread-safe.
class EntityConfig {
 public:
  virtual ~EntityConfig() = default;

  // The domain name, e.g. "action"; also the `domain` column in ClickHouse.
  virtual std::string domain() const = 0;
  // The source table, read with the alias `s`.
  virtual std::string table() const = 0;
  // The SQL type of the source table's `id` column. Entity ids travel as text; lookups cast
  // them back to this type so the primary key index serves them.
  virtual std::string id_type() const { return "bigint"; }
  // SQL text expression of the entity's id.
  std::string id_sql() const { return "s.id::text"; }
  // SQL boolean expression: the row is soft-deleted. "false" for tables whose rows are
  // deleted outright (then hard_deletes() is true).
  virtual std::string deleted_sql() const { return "s.deleted"; }
  virtual bool hard_deletes() const { return false; }
  // SQL json expression with the columns Render() and Properties() read. json_build_object,
  // not jsonb_build_object: the object is only sent, and building a jsonb first costs a third
  // more of the server's time.
  virtual std::string fields_sql() const = 0;

  // The summarizer's input: a plain-text description of the entity.
  virtual std::string Render(const EntityRecord& entity) const = 0;
  // The properties stored with the vector (ClickHouse `properties`, a JSON object).
  virtual Json Properties(const EntityRecord& entity) const = 0;
};

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_ENTITY_CONFIG_H_
