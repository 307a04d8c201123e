#include "workflows/sync/flush.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/json_fields.h"
#include "src/common/status_macros.h"
#include "workflows/sync/committed_results.h"
#include "workflows/sync/flush_insert.h"
#include "workflows/sync/keep_alive.h"
#include "workflows/sync/ledger.h"
#include "workflows/sync/pending_batches.h"
#include "workflows/sync/sync_metrics.h"

namespace vecsync::workflows {
namespace {

// Drops from `rows` those other runs queued that the ledger already holds, or holds a newer row
// of: the run that queued the entity again flushed it first.
absl::Status DropSupersededCarriedOver(Ledger& ledger, std::vector<FlushRow>& rows) {
  std::vector<const QueuedRow*> others;
  std::vector<size_t> positions;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].own) continue;
    others.push_back(rows[i].row);
    positions.push_back(i);
  }
  ASSIGN_OR_RETURN(std::vector<size_t> held, ledger.AlreadyHeld(others));
  std::vector<bool> drop(rows.size(), false);
  for (size_t i : held) drop[positions[i]] = true;
  size_t kept = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!drop[i]) rows[kept++] = rows[i];
  }
  rows.resize(kept);
  return absl::OkStatus();
}

absl::StatusOr<FlushResult> Flush(const SyncEnvironment& env, engine::ActivityContext& ctx,
                                  const FlushInput& in) {
  const std::string& run_id = ctx.info().run_id;
  ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
  // A flush of one insert records its counts as it commits: a retry whose predecessor committed
  // returns them, instead of flushing other batches under its name while those went uncounted.
  // Attempts of one flush take turns (an advisory lock on the step), so that one that started
  // beside a live predecessor waits for it instead of finding its batches locked.
  const bool one_insert = in.max_batches == 1;
  const FlushInsertOptions insert_options{in.domain, in.embed_batch_size, in.max_parallel_requests,
                                          in.datetime64, env.embedder->dimensions()};
  PendingBatches batches(*conn, in.domain);
  Ledger ledger(*conn, in.domain);
  FlushResult result;
  result.more = false;
  for (int insert = 1;; ++insert) {
    // The batches stay locked until their rows are recorded as inserted: flushes running at
    // once take different batches. Heartbeats go on while the rows are embedded and inserted,
    // however long that takes: an attempt that holds the locks is never taken for a dead one
    // and retried beside them.
    KeepAlive keep_alive(ctx, env.keep_alive_interval,
                         {{"stage", "flushing"}, {"inserted", result.inserted}});
    PgTransaction txn(*conn);
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(conn->Query("SET LOCAL idle_in_transaction_session_timeout = 0").status());
    if (one_insert) {
      RETURN_IF_ERROR(conn->Query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, "
                                  "0))",
                                  run_id, std::to_string(ctx.info().seq))
                          .status());
      ASSIGN_OR_RETURN(std::optional<Json> committed, FindCommittedResult(*conn, ctx.info()));
      if (committed) return FlushResult::FromJson(*committed);
    }
    std::vector<TakenBatch> taken;
    ASSIGN_OR_RETURN(result.more,
                     batches.Take(run_id, in.insert_batch_size, in.take_carried_over, taken));
    if (taken.empty()) break;  // Nothing waits that another flush does not hold.
    std::vector<FlushRow> rows = NewestRows(taken, &result.skipped_unchanged);
    RETURN_IF_ERROR(DropSupersededCarriedOver(ledger, rows));
    ASSIGN_OR_RETURN(FlushInsert built, BuildFlushInsert(rows, insert_options, *env.embedder));
    if (!built.encoded.empty()) RETURN_IF_ERROR(env.vectors->Insert(built.body));
    // Record them as synced and drop the batches.
    RETURN_IF_ERROR(batches.Delete(taken));
    // In key order, as every flush locks the ledger's rows: two flushes that share entities
    // wait for one another instead of deadlocking.
    auto by_key = [](const QueuedRow* a, const QueuedRow* b) {
      return std::tie(a->team_id, a->id) < std::tie(b->team_id, b->id);
    };
    std::sort(built.encoded.begin(), built.encoded.end(), by_key);
    std::sort(built.rejected.begin(), built.rejected.end(),
              [&](const auto& a, const auto& b) { return by_key(a.first.row, b.first.row); });
    RETURN_IF_ERROR(ledger.RecordSynced(built.encoded));
    for (const auto& [r, error] : built.rejected) {
      RETURN_IF_ERROR(ledger.RecordFailure({r.row->team_id, std::string(r.row->id)}, error,
                                           r.row->row_version));
      ++(r.own ? result.failed : result.carried_over);
    }
    result.inserted += static_cast<int64_t>(built.encoded.size());
    result.embedded += built.embedded;
    result.carried_over += built.carried_over;
    if (one_insert) {
      ASSIGN_OR_RETURN(std::optional<Json> committed,
                       RecordCommittedResult(*conn, ctx.info(), result.ToJson()));
      if (committed) return FlushResult::FromJson(*committed);
    }
    RETURN_IF_ERROR(txn.Commit());
    RETURN_IF_ERROR(ctx.Heartbeat({{"inserted", result.inserted}}));
    if (!*result.more || insert == in.max_batches) break;
  }
  CountStages(in.domain, {{"embedded", result.embedded},
                          {"failed", result.failed},
                          {"inserted", result.inserted},
                          {"carried_over", result.carried_over},
                          {"skipped_unchanged", result.skipped_unchanged}});
  return result;
}

}  // namespace

Json FlushInput::ToJson() const {
  return {{"domain", domain},
          {"insert_batch_size", insert_batch_size},
          {"embed_batch_size", embed_batch_size},
          {"max_parallel_requests", max_parallel_requests},
          {"max_batches", max_batches},
          {"take_carried_over", take_carried_over},
          {"datetime64", datetime64}};
}

absl::StatusOr<FlushInput> FlushInput::FromJson(const Json& json) {
  FlushInput in;
  JsonFields f(json, "sync-flush input");
  f.Required("domain", &in.domain);
  f.Required("insert_batch_size", &in.insert_batch_size);
  // Optional: absent from the inputs of flushes an older vecsync scheduled.
  f.Optional("embed_batch_size", &in.embed_batch_size);
  f.Optional("max_parallel_requests", &in.max_parallel_requests);
  f.Optional("max_batches", &in.max_batches);
  f.Optional("take_carried_over", &in.take_carried_over);
  f.Optional("datetime64", &in.datetime64);
  if (f.status().ok() && in.insert_batch_size < 1)
    f.Fail("insert_batch_size", "must be at least 1");
  RETURN_IF_ERROR(f.status());
  return in;
}

Json FlushResult::ToJson() const {
  Json out = {{"inserted", inserted},
              {"embedded", embedded},
              {"failed", failed},
              {"carried_over", carried_over},
              {"skipped_unchanged", skipped_unchanged}};
  if (more) out["more"] = *more;
  return out;
}

absl::StatusOr<FlushResult> FlushResult::FromJson(const Json& json) {
  FlushResult r;
  JsonFields f(json, "sync-flush result");
  f.Required("inserted", &r.inserted);
  f.Optional("embedded", &r.embedded);
  f.Optional("failed", &r.failed);
  f.Optional("carried_over", &r.carried_over);
  f.Optional("skipped_unchanged", &r.skipped_unchanged);
  f.Optional("more", &r.more);
  RETURN_IF_ERROR(f.status());
  return r;
}

absl::Status RegisterFlushActivity(engine::Registry* registry, const SyncEnvironment* env) {
  return engine::RegisterActivity(
      registry, kFlushActivity,
      [env](engine::ActivityContext& ctx, const FlushInput& in) { return Flush(*env, ctx, in); });
}

}  // namespace vecsync::workflows
