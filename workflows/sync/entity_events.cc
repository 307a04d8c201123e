#include "workflows/sync/entity_events.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/sql_time.h"

namespace vecsync::workflows {

absl::Status LockEntityEventAppends(PgConnection& conn) {
  return conn.Query("SELECT pg_advisory_xact_lock(hashtextextended('vecsync.entity_events', 0))")
      .status();
}

absl::StatusOr<std::vector<EntityEvent>> EntityEventsAfter(PgConnection& conn,
                                                           const std::string& domain,
                                                           int64_t after_seq,
                                                           const std::vector<int64_t>& team_ids,
                                                           int limit) {
  ASSIGN_OR_RETURN(PgResult pruned,
                   conn.Query("SELECT upto_seq FROM vecsync.entity_events_pruned"));
  if (pruned.rows() > 0 && pruned.GetInt64(0, 0) > after_seq) {
    return absl::OutOfRangeError(absl::StrCat(
        "events after ", after_seq, " were dropped (kept for ",
        absl::FormatDuration(kEntityEventRetention),
        "): run sync-entity-vectors with mode reconcile, then watch without a resume token"));
  }
  std::optional<std::string> teams;
  if (!team_ids.empty()) teams = PgArrayLiteral(team_ids);
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query(absl::StrCat("SELECT seq, team_id, entity_id, tombstone, embedding_version, "
                              "row_version, ",
                              MicrosOf("created_at"),
                              " FROM vecsync.entity_events WHERE domain = $1 AND seq > $2 "
                              "AND ($3::bigint[] IS NULL OR team_id = ANY($3::bigint[])) "
                              "ORDER BY seq LIMIT $4"),
                 domain, after_seq, teams, limit));
  std::vector<EntityEvent> events(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    EntityEvent& e = events[static_cast<size_t>(i)];
    e.seq = r.GetInt64(i, 0);
    e.domain = domain;
    e.team_id = r.GetInt64(i, 1);
    e.entity_id = r.GetString(i, 2);
    e.tombstone = r.GetBool(i, 3);
    e.embedding_version = static_cast<int>(r.GetInt64(i, 4));
    e.row_version = r.GetInt64(i, 5);
    e.created_at = absl::FromUnixMicros(r.GetInt64(i, 6));
  }
  return events;
}

absl::StatusOr<int64_t> NewestEntityEventSeq(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query("SELECT COALESCE(max(seq), 0) FROM vecsync.entity_events"));
  return r.GetInt64(0, 0);
}

absl::Status PruneEntityEvents(PgConnection& conn, absl::Duration retention) {
  return conn
      .Query(absl::StrCat(
          "WITH dropped AS (DELETE FROM vecsync.entity_events WHERE created_at < now() - ",
          absl::ToInt64Microseconds(retention),
          " * interval '1 microsecond' RETURNING seq) "
          "INSERT INTO vecsync.entity_events_pruned AS p (upto_seq) "
          "SELECT max(seq) FROM dropped HAVING max(seq) IS NOT NULL "
          "ON CONFLICT (only_row) DO UPDATE SET upto_seq = "
          "GREATEST(p.upto_seq, EXCLUDED.upto_seq)"))
      .status();
}

}  // namespace vecsync::workflows
