#include "workflows/sync/source_rows.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/sql_time.h"

namespace vecsync::workflows {
absl::StatusOr<std::vector<ChangedKey>> SourceRows::ChangedAfter(const ChangedKey& cursor,
                                                                 int64_t after_us, int64_t until_us,
                                                                 const KeyFilter& filter,
                                                                 int limit) {
  const std::string id = config_.id_sql();
  const entities::SourceScope scope = config_.scope();
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query(
          absl::StrCat(
              "SELECT s.team_id, ", id, ", ", MicrosOf("s.updated_at"), " FROM ", config_.table(),
              " s ", scope.joins, " WHERE (", scope.predicate, ") AND s.updated_at <= ",
              kTimestampFromMicros, "$1::bigint AND s.updated_at > ", kTimestampFromMicros,
              "$2::bigint AND (s.updated_at, s.team_id, ", id, ") > (", kTimestampFromMicros,
              "$3::bigint, $4::bigint, $5::text) "
              "AND ($6::bigint[] IS NULL OR s.team_id = ANY($6::bigint[])) "
              "AND ($7::text[] IS NULL OR ",
              id, " = ANY($7::text[])) ORDER BY s.updated_at, s.team_id, ", id, " LIMIT $8"),
          until_us, after_us, cursor.updated_us, cursor.key.team_id, cursor.key.id,
          TeamIdsParam(filter), EntityIdsParam(filter), limit));
  std::vector<ChangedKey> keys;
  keys.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    keys.push_back({r.GetInt64(i, 2), {r.GetInt64(i, 0), r.GetString(i, 1)}});
  }
  return keys;
}

absl::StatusOr<std::vector<entities::EntityRecord>> SourceRows::Read(
    absl::Span<const EntityKey> keys) {
  std::vector<int64_t> teams;
  std::vector<std::string> ids;
  for (const EntityKey& key : keys) {
    teams.push_back(key.team_id);
    ids.push_back(key.id);
  }
  const entities::SourceScope scope = config_.scope();
  // Joined from the keys, by the id's own type: one primary-key probe per key.
  ASSIGN_OR_RETURN(PgResult r,
                   conn_.Query(absl::StrCat("SELECT s.team_id, ", config_.id_sql(), ", ",
                                            MicrosOf("s.updated_at"), ", ", config_.deleted_sql(),
                                            ", ", config_.fields_sql(),
                                            " FROM unnest($1::bigint[], $2::", config_.id_type(),
                                            "[]) AS k(team_id, id) JOIN ", config_.table(),
                                            " s ON s.id = k.id AND s.team_id = k.team_id ",
                                            scope.joins, " WHERE ", scope.predicate),
                               PgArrayLiteral(teams), PgArrayLiteral(ids)));
  std::vector<entities::EntityRecord> rows(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    entities::EntityRecord& e = rows[static_cast<size_t>(i)];
    e.team_id = r.GetInt64(i, 0);
    e.id = r.GetString(i, 1);
    e.updated_at = absl::FromUnixMicros(r.GetInt64(i, 2));
    e.deleted = r.GetBool(i, 3);
    e.fields = r.GetJson(i, 4);
  }
  return rows;
}

}  // namespace vecsync::workflows
