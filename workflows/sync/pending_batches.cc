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

absl::StatusOr<bool> PendingBatches::Lease(const std::string& owner, absl::Duration lease,
                                           const std::string& run_id, int64_t max_rows,
                                           bool take_others, std::vector<TakenBatch>& taken) {
  std::vector<std::string> others;
  if (take_others) {
    ASSIGN_OR_RETURN(others, EndedRunsWithBatches(run_id));
  }
  const std::string own_run = PgArrayLiteral(std::vector<std::string>{run_id});
  const std::string other_runs = PgArrayLiteral(others);
  const int64_t lease_us = absl::ToInt64Microseconds(lease);
  int64_t rows = 0;
  for (const bool own : {true, false}) {
    if (!own && others.empty()) break;
    const std::string& runs = own ? own_run : other_runs;
    // One batch per statement: SKIP LOCKED passes over a batch another flush is leasing at this
    // instant, and the lease predicate over those other flushes hold.
    for (int64_t after = 0;;) {
      const int64_t room = taken.empty() ? std::numeric_limits<int64_t>::max() : max_rows - rows;
      if (room <= 0) break;
      ASSIGN_OR_RETURN(
          PgResult next,
          conn_.QueryBinary(
              "UPDATE vecsync.pending_batches b SET leased_by = $5, "
              "  lease_expires_at = now() + interval '1 microsecond' * $6::bigint "
              "WHERE b.id = (SELECT id FROM vecsync.pending_batches "
              "  WHERE domain = $1 AND queued_by = ANY($2::uuid[]) AND id > $3 "
              "    AND row_count <= $4::bigint AND (leased_by IS NULL OR leased_by = $5 "
              "      OR lease_expires_at < now()) "
              "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
              "RETURNING b.id, b.row_count, b.body",
              domain_, runs, after, room, owner, lease_us));
      if (next.rows() == 0) break;
      after = next.GetInt64(0, 0);
      TakenBatch& batch = taken.emplace_back();
      batch.id = after;
      batch.own = own;
      batch.body = std::string(next.Get(0, 2));
      rows += next.GetInt64(0, 1);
      absl::StatusOr<std::vector<QueuedRow>> decoded = DecodeQueuedRows(batch.body);
      if (!decoded.ok()) {
        (void)Release(owner);
        return absl::DataLossError(absl::StrCat(
            "pending batch ", batch.id, " in vecsync.pending_batches cannot be read (",
            decoded.status().message(), "): was it queued by another version of vecsync?"));
      }
      batch.rows = *std::move(decoded);
    }
  }
  // Whether a batch that no flush holds waits still.
  std::vector<int64_t> ids;
  for (const TakenBatch& b : taken) ids.push_back(b.id);
  ASSIGN_OR_RETURN(PgResult left,
                   conn_.Query("SELECT 1 FROM vecsync.pending_batches "
                               "WHERE domain = $1 AND id <> ALL($3::bigint[]) AND "
                               "(queued_by = $2::uuid OR queued_by = ANY($4::uuid[])) AND "
                               "(leased_by IS NULL OR lease_expires_at < now()) LIMIT 1",
                               domain_, run_id, PgArrayLiteral(ids), other_runs));
  return left.rows() > 0;
}

absl::Status PendingBatches::Renew(const std::string& owner, absl::Duration lease) {
  return conn_
      .Query(
          "UPDATE vecsync.pending_batches "
          "SET lease_expires_at = now() + interval '1 microsecond' * $2::bigint "
          "WHERE leased_by = $1",
          owner, absl::ToInt64Microseconds(lease))
      .status();
}

absl::Status PendingBatches::Release(const std::string& owner) {
  return conn_
      .Query(
          "UPDATE vecsync.pending_batches SET leased_by = NULL, lease_expires_at = NULL "
          "WHERE leased_by = $1",
          owner)
      .status();
}

absl::Status PendingBatches::DeleteLeased(const std::string& owner,
                                          const std::vector<TakenBatch>& taken) {
  std::vector<int64_t> ids;
  for (const TakenBatch& b : taken) ids.push_back(b.id);
  ASSIGN_OR_RETURN(PgResult deleted, conn_.Query("DELETE FROM vecsync.pending_batches "
                                                 "WHERE id = ANY($1::bigint[]) AND leased_by = $2",
                                                 PgArrayLiteral(ids), owner));
  if (deleted.affected_rows() != static_cast<int64_t>(ids.size())) {
    return absl::AbortedError(absl::StrCat(
        "the flush's lease on ", ids.size() - static_cast<size_t>(deleted.affected_rows()),
        " of its ", ids.size(),
        " batches expired and another flush took them: it records nothing, and is retried"));
  }
  return absl::OkStatus();
}

}  // namespace vecsync::workflows
