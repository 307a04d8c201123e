#include "workflows/sync/committed_results.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/engine/client.h"

namespace vecsync::workflows {

absl::StatusOr<std::optional<Json>> FindCommittedResult(PgConnection& conn,
                                                        const engine::ActivityInfo& info) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT counts FROM vecsync.committed_steps "
                                          "WHERE run_id = $1::uuid AND seq = $2",
                                          info.run_id, info.seq));
  if (r.rows() == 0) return std::nullopt;
  return r.GetJson(0, 0);
}

absl::StatusOr<std::optional<Json>> RecordCommittedResult(PgConnection& conn,
                                                          const engine::ActivityInfo& info,
                                                          const Json& result) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query("INSERT INTO vecsync.committed_steps (run_id, seq, counts) "
                              "VALUES ($1::uuid, $2, $3::jsonb) ON CONFLICT (run_id, seq) "
                              "DO NOTHING",
                              info.run_id, info.seq, result.dump()));
  if (r.affected_rows() == 1) return std::nullopt;
  return ResultOfTheAttemptThatCommitted(conn, info);
}

absl::StatusOr<std::optional<Json>> ResultOfTheAttemptThatCommitted(
    PgConnection& conn, const engine::ActivityInfo& info) {
  ASSIGN_OR_RETURN(std::optional<Json> committed, FindCommittedResult(conn, info));
  if (!committed) {
    return absl::InternalError(absl::StrCat("the result recorded for step ", info.seq, " of run ",
                                            info.run_id, " conflicted, and then was not there"));
  }
  return committed;
}

absl::Status ForgetResultsOfEndedRuns(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query("SELECT DISTINCT run_id::text FROM vecsync.committed_steps"));
  std::vector<std::string> runs;
  for (int i = 0; i < r.rows(); ++i) runs.push_back(r.GetString(i, 0));
  if (runs.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::set<std::string> running, engine::RunningRuns(conn, runs));
  std::vector<std::string> ended;
  for (const std::string& run : runs) {
    if (!running.contains(run)) ended.push_back(run);
  }
  if (ended.empty()) return absl::OkStatus();
  return conn
      .Query("DELETE FROM vecsync.committed_steps WHERE run_id = ANY($1::uuid[])",
             PgArrayLiteral(ended))
      .status();
}

}  // namespace vecsync::workflows
