#include "workflows/sync/change_queue.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/sql_time.h"

namespace vecsync::workflows {

absl::Status ChangeQueue::AddEntities(absl::Span<const EntityChange> changes) {
  std::vector<int64_t> teams;
  std::vector<std::optional<std::string>> ids;
  std::vector<std::optional<int64_t>> committed_us;
  for (const EntityChange& change : changes) {
    teams.push_back(change.key.team_id);
    ids.emplace_back(change.key.id);
    committed_us.push_back(change.committed_at
                               ? std::optional<int64_t>(absl::ToUnixMicros(*change.committed_at))
                               : std::nullopt);
  }
  return Add(teams, ids, committed_us);
}

absl::Status ChangeQueue::AddTeams(absl::Span<const int64_t> team_ids) {
  return Add(std::vector<int64_t>(team_ids.begin(), team_ids.end()),
             std::vector<std::optional<std::string>>(team_ids.size()),
             std::vector<std::optional<int64_t>>(team_ids.size()));
}

absl::Status ChangeQueue::AddLedgerEntities(absl::Span<const std::string> ids,
                                            std::optional<absl::Time> committed_at) {
  if (ids.empty()) return absl::OkStatus();
  std::optional<std::string> committed_us;
  if (committed_at) committed_us = std::to_string(absl::ToUnixMicros(*committed_at));
  return conn_
      .Query(absl::StrCat(
                 "INSERT INTO vecsync.entity_changes AS c (domain, team_id, entity_id, seq, "
                 "  committed_at) "
                 "SELECT $1, st.team_id, st.entity_id, nextval('vecsync.entity_changes_seq'), ",
                 kTimestampFromMicros,
                 "$3::bigint FROM (SELECT DISTINCT team_id, entity_id FROM vecsync.entity_state "
                 "  WHERE domain = $1 AND entity_id = ANY($2::text[])) st "
                 "ORDER BY st.team_id, st.entity_id "
                 "ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET seq = EXCLUDED.seq, "
                 "  committed_at = LEAST(c.committed_at, EXCLUDED.committed_at)"),
             domain_, PgArrayLiteral(std::vector<std::string>(ids.begin(), ids.end())),
             committed_us)
      .status();
}

absl::Status ChangeQueue::Add(const std::vector<int64_t>& teams,
                              const std::vector<std::optional<std::string>>& ids,
                              const std::vector<std::optional<int64_t>>& committed_us) {
  if (teams.empty()) return absl::OkStatus();
  std::vector<std::optional<std::string>> committed;
  for (const std::optional<int64_t>& us : committed_us) {
    committed.push_back(us ? std::optional<std::string>(std::to_string(*us)) : std::nullopt);
  }
  // In key order, so that two writers queueing the same entities wait for one another instead
  // of deadlocking; an entity twice in `ids` is queued once, with its earliest commit time.
  return conn_
      .Query(
          absl::StrCat("INSERT INTO vecsync.entity_changes AS c (domain, team_id, entity_id, seq, "
                       "  committed_at) "
                       "SELECT $1, v.team_id, v.entity_id, nextval('vecsync.entity_changes_seq'), "
                       "  v.committed_at FROM (SELECT team_id, entity_id, min(",
                       kTimestampFromMicros,
                       "committed_us) AS committed_at "
                       "  FROM unnest($2::bigint[], $3::text[], $4::bigint[]) "
                       "    AS u(team_id, entity_id, committed_us) "
                       "  GROUP BY team_id, entity_id) v "
                       "ORDER BY v.team_id, v.entity_id "
                       "ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET seq = EXCLUDED.seq, "
                       "  committed_at = LEAST(c.committed_at, EXCLUDED.committed_at)"),
          domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(committed))
      .status();
}

absl::StatusOr<int64_t> ChangeQueue::NewestSeq() {
  ASSIGN_OR_RETURN(PgResult r, conn_.Query("SELECT COALESCE(max(seq), 0) FROM "
                                           "vecsync.entity_changes WHERE domain = $1",
                                           domain_));
  return r.GetInt64(0, 0);
}

absl::StatusOr<std::vector<EntityKey>> ChangeQueue::EntitiesAfter(const EntityKey& after,
                                                                  int64_t upto, int limit) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn_.Query("SELECT team_id, entity_id FROM vecsync.entity_changes "
                               "WHERE domain = $1 AND entity_id IS NOT NULL AND seq <= $2 "
                               "  AND (team_id, entity_id) > ($3::bigint, $4::text) "
                               "ORDER BY team_id, entity_id LIMIT $5",
                               domain_, upto, after.team_id, after.id, limit));
  std::vector<EntityKey> keys;
  keys.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) keys.push_back({r.GetInt64(i, 0), r.GetString(i, 1)});
  return keys;
}

absl::StatusOr<std::vector<int64_t>> ChangeQueue::TeamsUpTo(int64_t upto) {
  ASSIGN_OR_RETURN(PgResult r, conn_.Query("SELECT team_id FROM vecsync.entity_changes "
                                           "WHERE domain = $1 AND entity_id IS NULL "
                                           "  AND seq <= $2 ORDER BY team_id",
                                           domain_, upto));
  std::vector<int64_t> teams;
  for (int i = 0; i < r.rows(); ++i) teams.push_back(r.GetInt64(i, 0));
  return teams;
}

absl::StatusOr<std::vector<double>> ChangeQueue::Remove(int64_t upto) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn_.Query("DELETE FROM vecsync.entity_changes WHERE domain = $1 AND seq <= $2 "
                               "RETURNING EXTRACT(EPOCH FROM clock_timestamp() - "
                               "committed_at)::float8",
                               domain_, upto));
  std::vector<double> seconds;
  for (int i = 0; i < r.rows(); ++i) {
    if (!r.IsNull(i, 0)) seconds.push_back(r.GetDouble(i, 0));
  }
  return seconds;
}

}  // namespace vecsync::workflows
