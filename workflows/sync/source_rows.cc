#include "workflows/sync/source_rows.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/sql_time.h"

namespace vecsync::workflows {
absl::StatusOr<std::vector<ChangedKey>> SourceRows::ChangedAfter(const ChangedKey& cursor,
                                                                 const ChangeWindow& window,
                                                                 int embedding_version,
                                                                 const KeyFilter& filter,
                                                                 int limit) {
  const std::string id = config_.id_sql();
  const entities::SourceScope scope = config_.scope();
  const int64_t from_us =
      window.after_us < 0 ? window.after_us : window.after_us - window.overlap_us;
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
              id, " = ANY($7::text[])) AND (s.updated_at > ", kTimestampFromMicros,
              "$9::bigint OR CASE WHEN ", config_.deleted_sql(),
              // In the overlap: a deleted row ClickHouse holds live, or a live row it does not
              // hold as it is (one that failed is the retry phase's, or quarantined).
              " THEN EXISTS (SELECT 1 FROM vecsync.entity_state st WHERE st.domain = $10 "
              "  AND st.embedding_version = $11 AND st.team_id = s.team_id AND st.entity_id = ",
              id,
              "  AND st.synced_at IS NOT NULL AND NOT st.deleted) "
              "ELSE NOT EXISTS (SELECT 1 FROM vecsync.entity_state st WHERE st.domain = $10 "
              "  AND st.embedding_version = $11 AND st.team_id = s.team_id AND st.entity_id = ",
              id,
              "  AND (st.failures > 0 OR st.synced_at IS NOT NULL AND NOT st.deleted "
              "  AND st.source_updated_at = s.updated_at)) END) "
              "ORDER BY s.updated_at, s.team_id, ",
              id, " LIMIT $8"),
          window.until_us, from_us, cursor.updated_us, cursor.key.team_id, cursor.key.id,
          TeamIdsParam(filter), EntityIdsParam(filter), limit, window.after_us, config_.domain(),
          embedding_version));
  std::vector<ChangedKey> keys;
  keys.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    keys.push_back({r.GetInt64(i, 2), {r.GetInt64(i, 0), r.GetString(i, 1)}});
  }
  return keys;
}

absl::StatusOr<DivergedPage> SourceRows::DivergedAfter(const std::optional<std::string>& after,
                                                       const KeyFilter& filter,
                                                       int embedding_version, int limit) {
  const std::string id = config_.id_sql();
  const entities::SourceScope scope = config_.scope();
  const std::string in_scope = scope.RowTest();
  const std::string held_live = "COALESCE(st.synced_at IS NOT NULL AND NOT st.deleted, false)";
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query(
          absl::StrCat(
              "WITH page AS (SELECT s.team_id, s.id, ", id, " AS key_id, s.updated_at, ", in_scope,
              " AND NOT (", config_.deleted_sql(), ") AS wanted FROM ", config_.table(),
              " s WHERE ($1::text IS NULL OR s.id > $1::", config_.id_type(),
              ") AND ($2::bigint[] IS NULL OR s.team_id = ANY($2::bigint[])) "
              "AND ($3::text[] IS NULL OR ",
              id, " = ANY($3::text[])) ORDER BY s.id LIMIT $4), ",
              "walked AS (SELECT p.team_id, p.key_id, "
              "  CASE WHEN p.wanted THEN NOT COALESCE(st.quarantined, false) AND (NOT ",
              held_live,
              "    OR st.source_updated_at IS DISTINCT FROM p.updated_at OR st.failures > 0) "
              "  ELSE ",
              held_live,
              " END AS diverged, "
              "  row_number() OVER (ORDER BY p.id) AS position, count(*) OVER () AS rows "
              "  FROM page p LEFT JOIN vecsync.entity_state st ON st.domain = $5 "
              "    AND st.embedding_version = $6 AND st.team_id = p.team_id "
              "    AND st.entity_id = p.key_id) "
              "SELECT team_id, key_id, diverged, position = rows, rows FROM walked "
              "WHERE diverged OR position = rows ORDER BY position"),
          after, TeamIdsParam(filter), EntityIdsParam(filter), limit, config_.domain(),
          embedding_version));
  DivergedPage page;
  page.done = true;  // An empty page: nothing follows.
  for (int i = 0; i < r.rows(); ++i) {
    if (r.GetBool(i, 2)) page.keys.push_back({r.GetInt64(i, 0), r.GetString(i, 1)});
    if (r.GetBool(i, 3)) {
      page.last_id = r.GetString(i, 1);
      page.done = r.GetInt64(i, 4) < limit;
    }
  }
  return page;
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
