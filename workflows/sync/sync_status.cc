#include "workflows/sync/sync_status.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/sql_time.h"

namespace vecsync::workflows {
namespace {

std::optional<absl::Time> OptionalMicros(const PgResult& r, int row, int column) {
  if (r.IsNull(row, column)) return std::nullopt;
  return absl::FromUnixMicros(r.GetInt64(row, column));
}

// Per team, each source row judged against its ledger entry at `embedding_version`, as
// SourceRows::DivergedAfter judges it, plus the ledger's live entries whose row is gone.
absl::StatusOr<std::vector<TeamStatus>> CountByTeam(PgConnection& conn,
                                                    const entities::EntityConfig& config,
                                                    const std::vector<int64_t>& team_ids,
                                                    int embedding_version) {
  const std::optional<std::string> teams =
      team_ids.empty() ? std::nullopt : std::optional(PgArrayLiteral(team_ids));
  const std::string held_live = "COALESCE(st.synced_at IS NOT NULL AND NOT st.deleted, false)";
  const std::string as_it_is = "st.source_updated_at IS NOT DISTINCT FROM src.updated_at";
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query(
          absl::StrCat(
              "WITH src AS (SELECT s.team_id, ", config.id_sql(), " AS key_id, s.updated_at, ",
              config.scope().RowTest(), " AND NOT (", config.deleted_sql(), ") AS wanted FROM ",
              config.table(), " s WHERE $1::bigint[] IS NULL OR s.team_id = ANY($1::bigint[])), ",
              "ledger AS (SELECT * FROM vecsync.entity_state st WHERE st.domain = $2 ",
              "  AND st.embedding_version = $3 ",
              "  AND ($1::bigint[] IS NULL OR st.team_id = ANY($1::bigint[]))), ",
              "judged AS (SELECT COALESCE(src.team_id, st.team_id) AS team_id, src.updated_at, ",
              "  COALESCE(src.wanted, false) AS wanted, ", held_live, " AS held_live, ",
              "  COALESCE(st.quarantined, false) AS quarantined, ",
              "  COALESCE(st.failures, 0) > 0 AS failed, ", as_it_is, " AS as_it_is ",
              "  FROM src FULL JOIN ledger st ON st.team_id = src.team_id ",
              "    AND st.entity_id = src.key_id) ",
              "SELECT team_id, count(*) FILTER (WHERE wanted), ",
              "  count(*) FILTER (WHERE wanted AND held_live AND as_it_is AND NOT failed ",
              "    AND NOT quarantined), ",
              "  count(*) FILTER (WHERE wanted AND NOT quarantined AND NOT failed ",
              "    AND NOT (held_live AND as_it_is)), ",
              "  count(*) FILTER (WHERE wanted AND failed AND NOT quarantined), ",
              "  count(*) FILTER (WHERE wanted AND quarantined), ",
              "  count(*) FILTER (WHERE NOT wanted AND held_live), ",
              MicrosOf("min(updated_at) FILTER (WHERE wanted AND NOT quarantined AND NOT failed "
                       "AND NOT (held_live AND as_it_is))"),
              " FROM judged GROUP BY team_id HAVING count(*) FILTER (WHERE wanted OR held_live) > "
              "0 "
              "ORDER BY team_id"),
          teams, config.domain(), embedding_version));
  std::vector<TeamStatus> result;
  for (int i = 0; i < r.rows(); ++i) {
    TeamStatus team;
    team.team_id = r.GetInt64(i, 0);
    team.counts.in_scope = r.GetInt64(i, 1);
    team.counts.synced = r.GetInt64(i, 2);
    team.counts.stale = r.GetInt64(i, 3);
    team.counts.failed = r.GetInt64(i, 4);
    team.counts.quarantined = r.GetInt64(i, 5);
    team.counts.to_remove = r.GetInt64(i, 6);
    team.counts.oldest_unsynced_change = OptionalMicros(r, i, 7);
    result.push_back(std::move(team));
  }
  return result;
}

// The domain's newest run with `running` (or not) status.
absl::StatusOr<std::optional<SyncRunInfo>> NewestRun(PgConnection& conn, const std::string& domain,
                                                     bool running) {
  ASSIGN_OR_RETURN(
      PgResult r, conn.Query(absl::StrCat("SELECT workflow_id, run_id::text, status, ",
                                          MicrosOf("start_time"), ", ", MicrosOf("close_time"),
                                          ", input, result, failure FROM vecsync.executions "
                                          "WHERE workflow_type = 'sync-entity-vectors' "
                                          "AND input->>'domain' = $1 AND (status = 'RUNNING') = $2 "
                                          "ORDER BY start_time DESC, run_id DESC LIMIT 1"),
                             domain, running));
  if (r.rows() == 0) return std::nullopt;
  SyncRunInfo run;
  run.workflow_id = r.GetString(0, 0);
  run.run_id = r.GetString(0, 1);
  run.status = r.GetString(0, 2);
  run.start_time = absl::FromUnixMicros(r.GetInt64(0, 3));
  run.close_time = OptionalMicros(r, 0, 4);
  run.input = r.GetJson(0, 5);
  if (!r.IsNull(0, 6)) run.result = r.GetJson(0, 6);
  if (!r.IsNull(0, 7)) run.failure = r.GetJson(0, 7);
  return run;
}

}  // namespace

void EntityCounts::Add(const EntityCounts& other) {
  in_scope += other.in_scope;
  synced += other.synced;
  stale += other.stale;
  failed += other.failed;
  quarantined += other.quarantined;
  to_remove += other.to_remove;
  if (other.oldest_unsynced_change &&
      (!oldest_unsynced_change || *other.oldest_unsynced_change < *oldest_unsynced_change)) {
    oldest_unsynced_change = other.oldest_unsynced_change;
  }
}

absl::StatusOr<DomainStatus> ReadDomainStatus(PgConnection& conn,
                                              const entities::EntityConfig& config,
                                              const std::vector<int64_t>& team_ids) {
  DomainStatus status;
  status.domain = config.domain();
  ASSIGN_OR_RETURN(std::vector<EmbeddingVersion> versions,
                   ListEmbeddingVersions(conn, config.domain()));
  for (const EmbeddingVersion& v : versions) {
    if (v.active) status.version = v;
  }
  if (!status.version && !versions.empty()) status.version = versions.back();
  if (status.version) {
    status.embedding_version = status.version->version;
    for (const EmbeddingVersion& v : versions) {
      if (!v.complete && v.version > status.embedding_version) status.building_version = v.version;
    }
  }
  ASSIGN_OR_RETURN(status.teams,
                   CountByTeam(conn, config, team_ids, std::max(status.embedding_version, 1)));
  for (const TeamStatus& team : status.teams) status.totals.Add(team.counts);

  ASSIGN_OR_RETURN(
      PgResult queued,
      conn.Query(absl::StrCat("SELECT count(*), ", MicrosOf("min(queued_at)"),
                              " FROM vecsync.entity_changes WHERE domain = $1 "
                              "AND ($2::bigint[] IS NULL OR team_id = ANY($2::bigint[]))"),
                 config.domain(),
                 team_ids.empty() ? std::nullopt : std::optional(PgArrayLiteral(team_ids))));
  status.queued_changes = queued.GetInt64(0, 0);
  status.oldest_queued_change = OptionalMicros(queued, 0, 1);
  ASSIGN_OR_RETURN(status.last_run, NewestRun(conn, config.domain(), /*running=*/false));
  ASSIGN_OR_RETURN(status.running, NewestRun(conn, config.domain(), /*running=*/true));
  return status;
}

}  // namespace vecsync::workflows
