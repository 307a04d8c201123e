// What vecsync needs to know about one kind of entity (a "domain"): which rows of which table
// are its entities and which of them may be synced, how to describe one to the summarizer and
// with what instruction, what to embed, and what to store beside the vector. The sync workflow
// is generic; everything domain-specific lives in an EntityConfig.
//
// Adding a domain: a new file pair entities/<domain>.{h,cc} whose .cc defines a factory, and
// one line in entities/registry.cc (registration is explicit, from that one place, so static
// linking can never drop a domain). The build picks up every entities/*.cc by itself.
//
// SQL fragments are spliced into the sync's statements, which read the source table with the
// alias `s` and the keys they look up with the alias `k`; a config's own joins may use any other
// alias. Source tables are read-only for vecsync: every domain's table has team_id, id and
// updated_at (with an index on updated_at).
#ifndef VECSYNC_ENTITIES_ENTITY_CONFIG_H_
#define VECSYNC_ENTITIES_ENTITY_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
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

// Which source rows may be synced: the tenant scope and the consent predicate. A row for which
// `predicate` does not hold (or that the joins drop) is out of scope: never summarized, and
// tombstoned if it was synced before.
//
// Teams enter and leave a scope without any source row changing (an organization approves AI
// data processing; a team is deleted). `teams_sql` names the teams in scope, so that a sync can
// notice which entered or left it since it last looked, and walk their entities.
struct SourceScope {
  std::string joins;      // e.g. "JOIN posthog_team t ON t.id = s.team_id"; may be empty
  std::string predicate;  // a SQL boolean over `s` and the joined tables; "true" for all rows
  // A query of one bigint column: the teams whose rows `joins` and `predicate` may admit. Empty
  // when the scope reads nothing but the source row itself (a row then enters or leaves it only
  // by an edit, which moves its updated_at).
  std::string teams_sql;
  // The tables `joins` and `teams_sql` read: the change feed watches them, and a change to one
  // makes the next run compare the teams in scope.
  std::vector<std::string> tables;

  // The scope as a test of one row of `s` (a correlated EXISTS over `joins`), for queries that
  // read every row and judge each.
  std::string RowTest() const {
    return "EXISTS (SELECT 1 FROM (VALUES (1)) AS vecsync_one(x) " + joins + " WHERE " + predicate +
           ")";
  }
};

// Implementations are stateless and thread-safe.
class EntityConfig {
 public:
  virtual ~EntityConfig() = default;

  // ---- the source rows -------------------------------------------------------------------

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
  // The rows of the table that may be synced (see SourceScope).
  virtual SourceScope scope() const = 0;
  // SQL json expression with the columns Render() and Properties() read. json_build_object,
  // not jsonb_build_object: the object is only sent, and building a jsonb first costs a third
  // more of the server's time.
  virtual std::string fields_sql() const = 0;

  // ---- what is made of an entity -----------------------------------------------------------

  // The summarizer's instruction for this domain's entities. Part of the content hash: a new
  // prompt re-summarizes the domain.
  virtual std::string summary_prompt() const = 0;
  // The summarizer's input: a plain-text description of the entity.
  virtual std::string Render(const EntityRecord& entity) const = 0;
  // The text embedded and stored in ClickHouse (`text`), from the entity and its summary.
  // The summary itself unless a domain adds to it.
  virtual std::string EmbeddingText(const EntityRecord& entity, absl::string_view summary) const {
    return std::string(summary);
  }
  // The properties stored with the vector (ClickHouse `properties`, a JSON object).
  virtual Json Properties(const EntityRecord& entity) const = 0;
};

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_ENTITY_CONFIG_H_
