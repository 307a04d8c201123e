#include "workflows/sync/scope_teams.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/change_queue.h"

namespace vecsync::workflows {
namespace {

// The first column of `sql`'s rows, which it reads with `params`.
template <typename... Params>
absl::StatusOr<std::vector<int64_t>> TeamIds(PgConnection& conn, const std::string& sql,
                                             Params&&... params) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query(sql, std::forward<Params>(params)...));
  std::vector<int64_t> teams;
  teams.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) teams.push_back(r.GetInt64(i, 0));
  return teams;
}

}  // namespace

absl::Status RefreshScopeTeams(PgConnection& conn, const entities::EntityConfig& config,
                               bool queue_entered) {
  const std::string teams_sql = config.scope().teams_sql;
  if (teams_sql.empty()) return absl::OkStatus();
  const std::string domain = config.domain();
  PgTransaction txn(conn);
  RETURN_IF_ERROR(txn.Begin());
  // Locked, so that two looks at one domain queue each change once.
  ASSIGN_OR_RETURN(PgResult known, conn.Query("SELECT 1 FROM vecsync.scope_teams "
                                              "WHERE domain = $1 FOR UPDATE",
                                              domain));
  ASSIGN_OR_RETURN(
      std::vector<int64_t> before,
      TeamIds(conn,
              known.rows() > 0
                  ? "SELECT unnest(team_ids) FROM vecsync.scope_teams WHERE domain = $1"
                  : "SELECT DISTINCT team_id FROM vecsync.entity_state "
                    "WHERE domain = $1 AND synced_at IS NOT NULL AND NOT deleted",
              domain));
  ASSIGN_OR_RETURN(std::vector<int64_t> now,
                   TeamIds(conn, absl::StrCat("SELECT DISTINCT t.id FROM (", teams_sql,
                                              ") AS t(id) ORDER BY 1")));
  std::sort(before.begin(), before.end());
  std::vector<int64_t> entered, left;
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                      std::back_inserter(entered));
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                      std::back_inserter(left));
  ChangeQueue queue(conn, domain);
  RETURN_IF_ERROR(queue.AddTeams(left));
  if (queue_entered) RETURN_IF_ERROR(queue.AddTeams(entered));
  RETURN_IF_ERROR(conn.Query("INSERT INTO vecsync.scope_teams (domain, team_ids) "
                             "VALUES ($1, $2::bigint[]) ON CONFLICT (domain) DO UPDATE SET "
                             "team_ids = EXCLUDED.team_ids, seen_at = now()",
                             domain, PgArrayLiteral(now))
                      .status());
  return txn.Commit();
}

}  // namespace vecsync::workflows
