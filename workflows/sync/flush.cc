#include "workflows/sync/flush.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/clients/token_usage.h"
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

// Attempts of one flush step take turns: one that started beside a live predecessor (its
// heartbeat timed out, and it goes on) waits for it, then finds its result. A session advisory
// lock, polled: waiting in a statement would hold a snapshot for as long as it waits.
class StepTurn {
 public:
  StepTurn(PgConnection& conn, const engine::ActivityInfo& info)
      : conn_(conn), key_(absl::StrCat(info.run_id, "/", info.seq)) {}
  StepTurn(const StepTurn&) = delete;
  StepTurn& operator=(const StepTurn&) = delete;
  ~StepTurn() {
    if (held_) (void)conn_.Query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key_);
  }

  absl::Status Wait(engine::ActivityContext& ctx) {
    while (true) {
      ASSIGN_OR_RETURN(PgResult r,
                       conn_.Query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key_));
      if (r.GetBool(0, 0)) {
        held_ = true;
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(ctx.Heartbeat({{"stage", "waiting for an earlier attempt"}}));
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

 private:
  PgConnection& conn_;
  const std::string key_;
  bool held_ = false;
};

// Embeds, inserts and records one insert's worth of leased batches. Nothing it does holds a
// transaction open but the last step, which records the rows and deletes the batches.
class FlushOne {
 public:
  FlushOne(const SyncEnvironment& env, engine::ActivityContext& ctx, const FlushInput& in,
           PgConnection& conn, const std::string& owner)
      : env_(env), ctx_(ctx), in_(in), conn_(conn), owner_(owner) {}

  enum class Outcome {
    kNothingToTake,  // Nothing waits that another flush does not hold.
    kFlushed,        // Added to `result`.
    kSuperseded,     // Another attempt of the step committed first: `result` is its result.
  };

  // Leases batches and moves them to ClickHouse.
  absl::StatusOr<Outcome> Run(FlushResult& result) {
    PendingBatches batches(conn_, in_.domain);
    std::vector<TakenBatch> taken;
    absl::StatusOr<bool> more = batches.Lease(owner_, env_.batch_lease, ctx_.info().run_id,
                                              in_.insert_batch_size, in_.take_carried_over, taken);
    if (more.ok()) result.more = *more;  // Before Move(), which records it with the counts.
    absl::StatusOr<Outcome> moved = !more.ok()      ? more.status()
                                    : taken.empty() ? Outcome::kNothingToTake
                                                    : Move(batches, taken, result);
    // Batches this attempt leased and did not move go back at once, for another flush or the
    // retry: it failed, or another attempt of the step committed first.
    if (!moved.ok() || *moved == Outcome::kSuperseded) (void)batches.Release(owner_);
    return moved;
  }

 private:
  absl::StatusOr<Outcome> Move(PendingBatches& batches, const std::vector<TakenBatch>& taken,
                               FlushResult& result) {
    Ledger ledger(conn_, in_.domain);
    FlushResult delta;
    std::vector<FlushRow> rows = NewestRows(taken, &delta.skipped_unchanged);
    RETURN_IF_ERROR(DropSupersededCarriedOver(ledger, rows));
    FlushInsert built;
    clients::TokenUsage usage;
    {
      clients::TokenUsage::Scope counted(&usage);
      // Heartbeats, and lease renewals, go on while the rows are embedded and inserted, however
      // long that takes.
      KeepAlive keep_alive(ctx_, env_.keep_alive_interval,
                           {{"stage", "flushing"}, {"inserted", result.inserted}},
                           [this] { RenewLease(); });
      // The insert starts with the first chunk of rows and goes on while the rest are embedded.
      // If anything fails before it is finished, destroying it aborts it: nothing is stored.
      std::unique_ptr<clients::ClickHouseInsert> insert;
      auto sink = [&](std::string chunk) -> absl::Status {
        if (insert == nullptr) {
          ASSIGN_OR_RETURN(insert, env_.vectors->StartInsert());
        }
        return insert->Write(std::move(chunk));
      };
      const FlushInsertOptions options{in_.domain, in_.embed_batch_size, in_.max_parallel_requests,
                                       in_.datetime64};
      ASSIGN_OR_RETURN(built, BuildFlushInsert(rows, options, *env_.embedder, sink));
      if (insert != nullptr) RETURN_IF_ERROR(insert->Finish());
    }
    delta.inserted = static_cast<int64_t>(built.encoded.size());
    delta.embedded = built.embedded;
    delta.carried_over = built.carried_over;
    delta.embedding_tokens = usage.prompt_tokens();
    // In key order, as every flush writes the ledger's rows: two flushes that share entities
    // wait for one another instead of deadlocking.
    auto by_key = [](const QueuedRow* a, const QueuedRow* b) {
      return std::tie(a->team_id, a->id) < std::tie(b->team_id, b->id);
    };
    std::sort(built.encoded.begin(), built.encoded.end(), by_key);
    std::sort(built.rejected.begin(), built.rejected.end(),
              [&](const auto& a, const auto& b) { return by_key(a.first.row, b.first.row); });
    for (const auto& [r, error] : built.rejected) ++(r.own ? delta.failed : delta.carried_over);

    // The one transaction: the batches go, their rows are recorded, and (for a flush of one
    // insert) the attempt's result with them.
    PgTransaction txn(conn_);
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(batches.DeleteLeased(owner_, taken));
    RETURN_IF_ERROR(ledger.RecordSynced(built.encoded));
    for (const auto& [r, error] : built.rejected) {
      RETURN_IF_ERROR(ledger.RecordFailure({r.row->team_id, std::string(r.row->id)}, error,
                                           r.row->row_version));
    }
    FlushResult total = result;
    total.inserted += delta.inserted;
    total.embedded += delta.embedded;
    total.failed += delta.failed;
    total.carried_over += delta.carried_over;
    total.skipped_unchanged += delta.skipped_unchanged;
    total.embedding_tokens += delta.embedding_tokens;
    if (in_.max_batches == 1) {
      ASSIGN_OR_RETURN(std::optional<Json> committed,
                       RecordCommittedResult(conn_, ctx_.info(), total.ToJson()));
      if (committed) {  // Another attempt of this step committed first: this one rolls back.
        ASSIGN_OR_RETURN(result, FlushResult::FromJson(*committed));
        return Outcome::kSuperseded;
      }
    }
    RETURN_IF_ERROR(txn.Commit());
    result = total;
    return Outcome::kFlushed;
  }

  // From the keep-alive thread, on the flush's own connection: the flush's thread does not use
  // it while it embeds and inserts (the keep-alive thread is joined before it does again), and
  // asking the pool for another could wait behind every other activity holding one.
  void RenewLease() { (void)PendingBatches(conn_, in_.domain).Renew(owner_, env_.batch_lease); }

  const SyncEnvironment& env_;
  engine::ActivityContext& ctx_;
  const FlushInput& in_;
  PgConnection& conn_;
  const std::string& owner_;
};

absl::StatusOr<FlushResult> Flush(const SyncEnvironment& env, engine::ActivityContext& ctx,
                                  const FlushInput& in) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
  // The flush's batches are leased in its step's name: a retry of the step takes them over.
  const std::string owner = absl::StrCat(ctx.info().run_id, "/", ctx.info().seq);
  // Attempts of the step take turns: they lease in the same name, so two at once could take
  // each other's batches.
  StepTurn turn(*conn, ctx.info());
  RETURN_IF_ERROR(turn.Wait(ctx));
  // A flush of one insert records its result as it commits: a retry whose predecessor committed
  // returns it, instead of flushing other batches under its name while those went uncounted.
  const bool one_insert = in.max_batches == 1;
  if (one_insert) {
    ASSIGN_OR_RETURN(std::optional<Json> committed, FindCommittedResult(*conn, ctx.info()));
    if (committed) return FlushResult::FromJson(*committed);
  }
  FlushResult result;
  result.more = false;
  for (int insert = 1;; ++insert) {
    using Outcome = FlushOne::Outcome;
    ASSIGN_OR_RETURN(Outcome outcome, FlushOne(env, ctx, in, *conn, owner).Run(result));
    if (outcome == Outcome::kSuperseded) return result;
    if (outcome == Outcome::kNothingToTake) break;
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
              {"skipped_unchanged", skipped_unchanged},
              {"embedding_tokens", embedding_tokens}};
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
  f.Optional("embedding_tokens", &r.embedding_tokens);
  RETURN_IF_ERROR(f.status());
  return r;
}

absl::Status RegisterFlushActivity(engine::Registry* registry, const SyncEnvironment* env) {
  return engine::RegisterActivity(
      registry, kFlushActivity,
      [env](engine::ActivityContext& ctx, const FlushInput& in) { return Flush(*env, ctx, in); });
}

}  // namespace vecsync::workflows
