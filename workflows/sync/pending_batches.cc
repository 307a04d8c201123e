#include "workflows/sync/pending_batches.h"

#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/engine/client.h"
#include "workflows/sync/committed_results.h"

namespace vecsync::workflows {

absl::StatusOr<std::optional<Json>> PendingBatches::Queue(const engine::ActivityInfo& info,
                                                          const Json& result,
                                                          absl::Span<const QueuedRow> rows,
                                                          size_t max_rows) {
  PgBinaryArray row_counts = PgBinaryArray::Int64(), bodies = PgBinaryArray::Bytea();
  for (size_t first = 0; first < rows.size(); first += max_rows) {
    const absl::Span<const QueuedRow> batch = rows.subspan(first, max_rows);
    row_counts.Add(static_cast<int64_t>(batch.size()));
    bodies.Add(EncodeQueuedRows(batch));
  }
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query("WITH recorded AS (INSERT INTO vecsync.committed_steps (run_id, seq, counts) "
                  "  VALUES ($1::uuid, $2, $3::jsonb) ON CONFLICT (run_id, seq) DO NOTHING "
                  "  RETURNING 1), "
                  "queued AS (INSERT INTO vecsync.pending_batches (domain, queued_by, row_count, "
                  "  body) SELECT $4, $1::uuid, b.row_count, b.body "
                  "  FROM unnest($5::bigint[], $6::bytea[]) AS b(row_count, body) "
                  "  WHERE EXISTS (SELECT 1 FROM recorded)) "
                  "SELECT count(*) FROM recorded",
                  info.run_id, info.seq, result.dump(), domain_, std::move(row_counts).Build(),
                  std::move(bodies).Build()));
  if (r.GetInt64(0, 0) == 1) return std::nullopt;
  return ResultOfTheAttemptThatCommitted(conn_, info);
}

absl::StatusOr<std::vector<std::string>> PendingBatches::EndedRunsWithBatches(
    const std::string& run_id) {
  ASSIGN_OR_RETURN(PgResult r, conn_.Query("SELECT DISTINCT queued_by::text "
                                           "FROM vecsync.pending_batches "
                                           "WHERE domain = $1 AND queued_by <> $2::uuid",
                                           domain_, run_id));
  std::vector<std::string> runs;
  for (int i = 0; i < r.rows(); ++i) runs.push_back(r.GetString(i, 0));
  ASSIGN_OR_RETURN(std::set<std::string> running, engine::RunningRuns(conn_, runs));
  std::vector<std::string> ended;
  for (std::string& run : runs) {
    if (!running.contains(run)) ended.push_back(std::move(run));
  }
  return ended;
}

absl::StatusOr<bool> PendingBatches::Take(const std::string& run_id, int64_t max_rows,
                                          bool take_others, std::vector<TakenBatch>& taken) {
  std::vector<std::string> others;
  if (take_others) {
    ASSIGN_OR_RETURN(others, EndedRunsWithBatches(run_id));
  }
  const std::string own_run = PgArrayLiteral(std::vector<std::string>{run_id});
  const std::string other_runs = PgArrayLiteral(others);
  int64_t rows = 0;
  for (const bool own : {true, false}) {
    if (!own && others.empty()) break;
    const std::string& runs = own ? own_run : other_runs;
    // One batch per statement: SKIP LOCKED passes over what other flushes hold, and nothing is
    // locked that is not taken.
    for (int64_t after = 0;;) {
      const int64_t room = taken.empty() ? std::numeric_limits<int64_t>::max() : max_rows - rows;
      if (room <= 0) break;
      ASSIGN_OR_RETURN(
          PgResult next,
          conn_.QueryBinary("SELECT id, row_count, body FROM vecsync.pending_batches "
                            "WHERE domain = $1 AND queued_by = ANY($2::uuid[]) AND id > $3 "
                            "  AND row_count <= $4::bigint "
                            "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                            domain_, runs, after, room));
      if (next.rows() == 0) break;
      after = next.GetInt64(0, 0);
      TakenBatch& batch = taken.emplace_back();
      batch.id = after;
      batch.own = own;
      batch.body = std::string(next.Get(0, 2));
      rows += next.GetInt64(0, 1);
      absl::StatusOr<std::vector<QueuedRow>> decoded = DecodeQueuedRows(batch.body);
      if (!decoded.ok()) {
        return absl::DataLossError(absl::StrCat(
            "pending batch ", batch.id, " in vecsync.pending_batches cannot be read (",
            decoded.status().message(), "): was it queued by another version of vecsync?"));
      }
      batch.rows = *std::move(decoded);
    }
  }
  // Whether a batch that no flush holds waits still: looked for under a savepoint, so that the
  // one found is not held until this flush ends.
  std::vector<int64_t> ids;
  for (const TakenBatch& b : taken) ids.push_back(b.id);
  RETURN_IF_ERROR(conn_.Execute("SAVEPOINT look_for_more"));
  ASSIGN_OR_RETURN(PgResult left,
                   conn_.Query("SELECT 1 FROM vecsync.pending_batches "
                               "WHERE domain = $1 AND id <> ALL($3::bigint[]) AND "
                               "(queued_by = $2::uuid OR queued_by = ANY($4::uuid[])) "
                               "LIMIT 1 FOR UPDATE SKIP LOCKED",
                               domain_, run_id, PgArrayLiteral(ids), other_runs));
  RETURN_IF_ERROR(conn_.Execute("ROLLBACK TO SAVEPOINT look_for_more"));
  return left.rows() > 0;
}

absl::Status PendingBatches::Delete(const std::vector<TakenBatch>& taken) {
  std::vector<int64_t> ids;
  for (const TakenBatch& b : taken) ids.push_back(b.id);
  return conn_
      .Query("DELETE FROM vecsync.pending_batches WHERE id = ANY($1::bigint[])",
             PgArrayLiteral(ids))
      .status();
}

}  // namespace vecsync::workflows
