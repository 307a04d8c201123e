#include "src/engine/store.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/engine/errors.h"
#include "src/engine/retry_policy.h"

namespace vecsync::engine {
namespace {

// Statement fragments shared by several transitions.
constexpr char kMs[] = "interval '1 millisecond'";
// Notifications name who closed a step so a worker can skip the ones it delivered in memory;
// the sweeper delivers nothing in memory, so its notifications reach every worker.
constexpr char kSweeperIdentity[] = "sweeper";

absl::Status LostLease(const std::string& run_id) {
  return absl::AbortedError(absl::StrCat("run ", run_id,
                                         " is no longer held by this worker (lease lost or run "
                                         "closed)"));
}

std::optional<std::string> JsonParam(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return j.dump();
}

std::optional<absl::Time> OptionalTime(const PgResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return FromEpochMicros(r.GetInt64(row, col));
}

std::string RunKeyList(const std::vector<LeaseKey>& keys, std::vector<int64_t>* seqs,
                       std::vector<int64_t>* generations) {
  std::vector<std::string> runs;
  for (const LeaseKey& k : keys) {
    runs.push_back(k.run_id);
    if (seqs != nullptr) seqs->push_back(k.seq);
    generations->push_back(k.generation);
  }
  return PgArrayLiteral(runs);
}

// The activity-step columns ClaimActivities and the sweeper read, in this order.
std::string ActivityColumns(absl::string_view s) {
  return absl::StrCat(s, ".run_id, ", s, ".workflow_id, ", s, ".seq, ", s, ".name, ", s, ".input, ",
                      s, ".options, ", s, ".attempt, ", s, ".generation, ", s,
                      ".heartbeat_details, ", EpochMicros(absl::StrCat(s, ".schedule_deadline")),
                      ", ", EpochMicros(absl::StrCat(s, ".attempt_deadline")));
}

ClaimedActivity ReadActivity(const PgResult& r, int i) {
  ClaimedActivity a;
  a.run_id = r.GetString(i, 0);
  a.workflow_id = r.GetString(i, 1);
  a.seq = r.GetInt64(i, 2);
  a.activity_type = r.GetString(i, 3);
  a.input = r.GetJson(i, 4);
  a.options = r.GetJson(i, 5);
  a.attempt = static_cast<int>(r.GetInt64(i, 6));
  a.generation = r.GetInt64(i, 7);
  a.heartbeat_details = r.GetJson(i, 8);
  a.schedule_deadline = OptionalTime(r, i, 9);
  if (!r.IsNull(i, 10)) a.attempt_deadline = FromEpochMicros(r.GetInt64(i, 10));
  return a;
}

// Applies the retry decision for a failed attempt on `conn` (inside or outside a transaction).
absl::StatusOr<AttemptOutcome> ResolveFailedAttempt(PgConnection& conn, const std::string& identity,
                                                    const ClaimedActivity& a,
                                                    const absl::Status& error, const Json& details,
                                                    bool cancel_requested,
                                                    absl::Duration* retry_delay) {
  const Json failure = FailureToJson(error);
  absl::StatusOr<ActivityOptions> options = ActivityOptions::FromJson(a.options);
  const RetryPolicy policy = options.ok() ? options->retry_policy : RetryPolicy{};
  // Once cancellation was requested the activity is not retried, whatever ended the attempt
  // (Temporal's RETRY_STATE_CANCEL_REQUESTED).
  const bool canceled = cancel_requested;
  bool retry = !canceled && policy.MayRetry(a.attempt, ErrorType(error), IsNonRetryable(error));
  const absl::Duration delay = policy.DelayAfterAttempt(a.attempt);
  if (retry && a.schedule_deadline && absl::Now() + delay >= *a.schedule_deadline) retry = false;

  if (retry) {
    ASSIGN_OR_RETURN(
        PgResult r,
        conn.Query(absl::StrCat(
                       "UPDATE vecsync.steps SET status = 'SCHEDULED', failure = $4::jsonb, "
                       "heartbeat_details = COALESCE($5::jsonb, heartbeat_details), owner = NULL, "
                       "visible_at = now() + $6 * ",
                       kMs,
                       ", lease_expires_at = NULL, attempt_deadline = NULL, "
                       "heartbeat_deadline = NULL, timeout_at = NULL "
                       "WHERE run_id = $1 AND seq = $2 AND generation = $3 AND status = 'STARTED' "
                       "  AND NOT cancel_requested"),
                   a.run_id, a.seq, a.generation, failure.dump(), JsonParam(details),
                   absl::ToInt64Milliseconds(delay)));
    if (retry_delay != nullptr) *retry_delay = delay;
    return r.affected_rows() == 1 ? AttemptOutcome::kRetryScheduled : AttemptOutcome::kNotOwned;
  }
  const bool timed_out = ErrorType(error) == kTimeoutErrorType;
  const char* status = canceled ? "CANCELED" : "FAILED";
  const char* event = canceled    ? "ActivityTaskCanceled"
                      : timed_out ? "ActivityTaskTimedOut"
                                  : "ActivityTaskFailed";
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query("WITH f AS ("
                 "  UPDATE vecsync.steps SET status = $4, failure = $5::jsonb, "
                 "    heartbeat_details = COALESCE($6::jsonb, heartbeat_details), "
                 "    closed_at = now(), owner = NULL, timeout_at = NULL, lease_expires_at = NULL "
                 "  WHERE run_id = $1 AND seq = $2 AND generation = $3 AND status = 'STARTED' "
                 "  RETURNING run_id, seq, attempt), "
                 "h AS (INSERT INTO vecsync.history (run_id, seq, event_type, attributes) "
                 "  SELECT run_id, seq, $7, jsonb_build_object('attempt', attempt, 'failure', "
                 "  $5::jsonb) FROM f) "
                 "SELECT pg_notify('vecsync_step', run_id::text || ' ' || $8) FROM f",
                 a.run_id, a.seq, a.generation, status, failure.dump(), JsonParam(details), event,
                 identity));
  return r.rows() == 1 ? AttemptOutcome::kClosed : AttemptOutcome::kNotOwned;
}

}  // namespace

std::string EpochMicros(absl::string_view column) {
  return absl::StrCat("(EXTRACT(EPOCH FROM ", column, ") * 1000000)::bigint");
}

Store::Store(PgPool* pool, std::string identity) : pool_(pool), identity_(std::move(identity)) {}

// ---- runs ----------------------------------------------------------------------------------

absl::StatusOr<std::vector<ClaimedRun>> Store::ClaimRuns(const std::vector<std::string>& types,
                                                         int limit, absl::Duration lease) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(
          absl::StrCat("WITH c AS ("
                       "  SELECT run_id FROM vecsync.executions "
                       "  WHERE status = 'RUNNING' AND "
                       "    (lease_expires_at IS NULL OR lease_expires_at < now()) "
                       "    AND workflow_type = ANY($2::text[]) "
                       "  ORDER BY lease_expires_at NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED) "
                       "UPDATE vecsync.executions e SET owner = $1, "
                       "  lease_generation = e.lease_generation + 1, "
                       "  lease_expires_at = now() + $4 * ",
                       kMs,
                       ", updated_at = now() "
                       "FROM c WHERE e.run_id = c.run_id "
                       "RETURNING e.run_id, e.workflow_id, e.workflow_type, e.input, "
                       "  e.lease_generation, e.checkpoint, e.checkpoint_seq, e.cancel_requested"),
          identity_, PgArrayLiteral(types), limit, absl::ToInt64Milliseconds(lease)));
  std::vector<ClaimedRun> runs;
  for (int i = 0; i < r.rows(); ++i) {
    ClaimedRun run;
    run.run_id = r.GetString(i, 0);
    run.workflow_id = r.GetString(i, 1);
    run.workflow_type = r.GetString(i, 2);
    run.input = r.GetJson(i, 3);
    run.generation = r.GetInt64(i, 4);
    run.checkpoint = r.GetJson(i, 5);
    run.checkpoint_seq = r.GetInt64(i, 6);
    run.cancel_requested = r.GetBool(i, 7);
    run.reclaimed = run.generation > 1;
    runs.push_back(std::move(run));
  }
  return runs;
}

absl::StatusOr<std::vector<StepRecord>> Store::LoadSteps(const std::string& run_id,
                                                         int64_t from_seq) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r,
                   conn->Query(absl::StrCat("SELECT seq, kind, name, status, result, failure, ",
                                            EpochMicros("visible_at"),
                                            " FROM vecsync.steps WHERE run_id = $1 AND seq >= $2 "
                                            "ORDER BY seq"),
                               run_id, from_seq));
  std::vector<StepRecord> steps;
  for (int i = 0; i < r.rows(); ++i) {
    StepRecord s;
    s.seq = r.GetInt64(i, 0);
    s.kind = r.GetString(i, 1);
    s.name = r.GetString(i, 2);
    s.status = r.GetString(i, 3);
    s.result = r.GetJson(i, 4);
    s.failure = r.GetJson(i, 5);
    s.fire_at = FromEpochMicros(r.GetInt64(i, 6));
    steps.push_back(std::move(s));
  }
  return steps;
}

absl::Status Store::CommitCommands(const std::string& run_id, int64_t generation,
                                   const std::string& workflow_id, const CommandBatch& batch) {
  std::vector<int64_t> seqs, fire_us, s2c_ms;
  std::vector<std::string> kinds, names, payloads, options;
  for (const NewStep& s : batch.new_steps) {
    seqs.push_back(s.seq);
    kinds.push_back(s.kind);
    names.push_back(s.name);
    payloads.push_back(s.payload.dump());
    options.push_back(s.options.dump());
    fire_us.push_back(s.fire_at ? absl::ToUnixMicros(*s.fire_at) : 0);
    s2c_ms.push_back(
        s.schedule_to_close_timeout ? absl::ToInt64Milliseconds(*s.schedule_to_close_timeout) : -1);
  }
  // One statement: the fence (with the progress document), the new steps with their history
  // events, activity cancellation requests, fired timers, and the wake-ups for activity workers
  // and progress watchers.
  static const std::string kSql = absl::StrCat(
      "WITH fence AS ("
      "  UPDATE vecsync.executions SET updated_at = now(), "
      "    progress = COALESCE($13::jsonb, progress) "
      "  WHERE run_id = $1 AND lease_generation = $2 AND status = 'RUNNING' RETURNING run_id), "
      "ins AS ("
      "  INSERT INTO vecsync.steps (run_id, seq, kind, name, workflow_id, input, options, status, "
      "    result, visible_at, schedule_deadline) "
      "  SELECT fence.run_id, v.seq, v.kind, v.name, $3, "
      "    CASE WHEN v.kind = 'activity' THEN v.payload::jsonb END, "
      "    CASE WHEN v.kind = 'activity' THEN v.options::jsonb END, "
      "    CASE WHEN v.kind = 'marker' THEN 'COMPLETED' ELSE 'SCHEDULED' END, "
      "    CASE WHEN v.kind = 'marker' THEN v.payload::jsonb END, "
      "    CASE WHEN v.kind = 'timer' THEN to_timestamp(v.fire_us / 1000000.0) ELSE now() END, "
      "    CASE WHEN v.s2c_ms >= 0 THEN now() + v.s2c_ms * ",
      kMs,
      " END "
      "  FROM fence, unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], "
      "    $9::bigint[], $10::bigint[]) AS v(seq, kind, name, payload, options, fire_us, s2c_ms) "
      "  ON CONFLICT (run_id, seq) DO NOTHING "
      "  RETURNING seq, kind, name, input, options, result, visible_at), "
      "ins_history AS ("
      "  INSERT INTO vecsync.history (run_id, seq, event_type, attributes) "
      "  SELECT $1, seq, "
      "    CASE kind WHEN 'activity' THEN 'ActivityTaskScheduled' "
      "      WHEN 'timer' THEN 'TimerStarted' ELSE 'MarkerRecorded' END, "
      "    CASE kind WHEN 'activity' THEN jsonb_build_object('activity_type', name, "
      "        'input', input, 'options', options) "
      "      WHEN 'timer' THEN jsonb_build_object('fire_at', visible_at) "
      "      ELSE jsonb_build_object('name', name, 'value', result) END "
      "  FROM ins), "
      // The engine keeps generic plans, and one made while `steps` was small scans it: the
      // updates below run only when there is something to cancel or fire (a one-time filter),
      // which is rarely. They used to scan every step of every run per command batch.
      "cancel_scheduled AS ("
      "  UPDATE vecsync.steps s SET status = 'CANCELED', cancel_requested = true, "
      "    closed_at = now() "
      "  FROM fence WHERE cardinality($11::bigint[]) > 0 AND s.run_id = $1 "
      "    AND s.seq = ANY($11::bigint[]) "
      "    AND s.status = 'SCHEDULED' RETURNING s.seq), "
      "cancel_started AS ("
      "  UPDATE vecsync.steps s SET cancel_requested = true "
      "  FROM fence WHERE cardinality($11::bigint[]) > 0 AND s.run_id = $1 "
      "    AND s.seq = ANY($11::bigint[]) "
      "    AND s.status = 'STARTED' RETURNING s.seq), "
      "cancel_history AS ("
      "  INSERT INTO vecsync.history (run_id, seq, event_type) "
      "  SELECT $1, seq, 'ActivityTaskCanceled' FROM cancel_scheduled), "
      "fired AS ("
      "  UPDATE vecsync.steps s SET status = 'COMPLETED', closed_at = now() "
      "  FROM fence WHERE cardinality($12::bigint[]) > 0 AND s.run_id = $1 "
      "    AND s.seq = ANY($12::bigint[]) "
      "    AND s.kind = 'timer' AND s.status = 'SCHEDULED' RETURNING s.seq), "
      "fired_history AS ("
      "  INSERT INTO vecsync.history (run_id, seq, event_type) "
      "  SELECT $1, seq, 'TimerFired' FROM fired) "
      "SELECT (SELECT count(*) FROM fence), "
      "  (SELECT count(*) FROM cancel_started), "
      "  (SELECT pg_notify('vecsync_activity', '') FROM ins WHERE kind = 'activity' LIMIT 1), "
      "  (SELECT pg_notify('vecsync_progress', run_id::text) FROM fence "
      "   WHERE $13::jsonb IS NOT NULL)");
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(kSql, run_id, generation, workflow_id, PgArrayLiteral(seqs),
                  PgArrayLiteral(kinds), PgArrayLiteral(names), PgArrayLiteral(payloads),
                  PgArrayLiteral(options), PgArrayLiteral(fire_us), PgArrayLiteral(s2c_ms),
                  PgArrayLiteral(batch.cancel_activities), PgArrayLiteral(batch.fired_timers),
                  batch.progress));
  if (r.GetInt64(0, 0) != 1) return LostLease(run_id);
  return absl::OkStatus();
}

absl::StatusOr<RunRefresh> Store::Refresh(const std::string& run_id, int64_t generation,
                                          const std::vector<int64_t>& waiting_seqs) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult run,
                   conn->Query("SELECT status = 'RUNNING' AND lease_generation = $2, "
                               "cancel_requested FROM vecsync.executions WHERE run_id = $1",
                               run_id, generation));
  RunRefresh out;
  if (run.rows() == 0) return out;
  out.owned = run.GetBool(0, 0);
  out.cancel_requested = run.GetBool(0, 1);
  if (!out.owned || waiting_seqs.empty()) return out;
  ASSIGN_OR_RETURN(PgResult r,
                   conn->Query("SELECT seq, kind, name, status, result, failure "
                               "FROM vecsync.steps WHERE run_id = $1 AND seq = ANY($2::bigint[]) "
                               "AND status IN ('COMPLETED', 'FAILED', 'CANCELED')",
                               run_id, PgArrayLiteral(waiting_seqs)));
  for (int i = 0; i < r.rows(); ++i) {
    StepRecord s;
    s.seq = r.GetInt64(i, 0);
    s.kind = r.GetString(i, 1);
    s.name = r.GetString(i, 2);
    s.status = r.GetString(i, 3);
    s.result = r.GetJson(i, 4);
    s.failure = r.GetJson(i, 5);
    out.closed_steps.push_back(std::move(s));
  }
  return out;
}

absl::Status Store::SaveCheckpoint(const std::string& run_id, int64_t generation, const Json& state,
                                   int64_t next_seq) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query("WITH fence AS ("
                  "  UPDATE vecsync.executions SET checkpoint = $3::jsonb, checkpoint_seq = $4, "
                  "    updated_at = now() "
                  "  WHERE run_id = $1 AND lease_generation = $2 AND status = 'RUNNING' "
                  "  RETURNING run_id), "
                  "del_steps AS (DELETE FROM vecsync.steps s USING fence "
                  "  WHERE s.run_id = $1 AND s.seq < $4 RETURNING 1), "
                  "del_history AS (DELETE FROM vecsync.history h USING fence "
                  "  WHERE h.run_id = $1 AND h.seq < $4 RETURNING 1), "
                  "ins AS (INSERT INTO vecsync.history (run_id, seq, event_type, attributes) "
                  "  SELECT run_id, $4::bigint - 1, 'WorkflowCheckpointed', "
                  "  jsonb_build_object('next_seq', "
                  "    $4::bigint, 'compacted_events', (SELECT count(*) FROM del_history), "
                  "    'compacted_steps', (SELECT count(*) FROM del_steps)) FROM fence) "
                  "SELECT count(*) FROM fence",
                  run_id, generation, state.dump(), next_seq));
  if (r.GetInt64(0, 0) != 1) return LostLease(run_id);
  return absl::OkStatus();
}

absl::StatusOr<bool> Store::CloseRun(const std::string& run_id, std::optional<int64_t> generation,
                                     WorkflowStatus status, const Json& result,
                                     const Json& failure) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  return CloseRunOn(*conn, run_id, generation, status, result, failure);
}

absl::StatusOr<bool> CloseRunOn(PgConnection& conn, const std::string& run_id,
                                std::optional<int64_t> generation, WorkflowStatus status,
                                const Json& result, const Json& failure) {
  const char* event = "";
  switch (status) {
    case WorkflowStatus::kCompleted:
      event = "WorkflowExecutionCompleted";
      break;
    case WorkflowStatus::kFailed:
      event = "WorkflowExecutionFailed";
      break;
    case WorkflowStatus::kCanceled:
      event = "WorkflowExecutionCanceled";
      break;
    case WorkflowStatus::kTerminated:
      event = "WorkflowExecutionTerminated";
      break;
    case WorkflowStatus::kTimedOut:
      event = "WorkflowExecutionTimedOut";
      break;
    case WorkflowStatus::kRunning:
      return absl::InvalidArgumentError("CloseRun needs a terminal status");
  }
  Json attributes = Json::object();
  if (!result.is_null()) attributes["result"] = result;
  if (!failure.is_null()) attributes["failure"] = failure;
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query(
          "WITH closed AS ("
          "  UPDATE vecsync.executions SET status = $2, result = $3::jsonb, "
          "    failure = $4::jsonb, close_time = now(), owner = NULL, "
          "    lease_expires_at = NULL, updated_at = now() "
          "  WHERE run_id = $1 AND status = 'RUNNING' "
          "    AND ($5::bigint IS NULL OR lease_generation = $5) RETURNING run_id), "
          "open_steps AS ("
          "  UPDATE vecsync.steps s SET status = 'CANCELED', closed_at = now(), "
          "    cancel_requested = true, owner = NULL, timeout_at = NULL "
          "  FROM closed WHERE s.run_id = closed.run_id "
          "    AND s.status IN ('SCHEDULED', 'STARTED') RETURNING 1), "
          "h AS (INSERT INTO vecsync.history (run_id, event_type, attributes) "
          "  SELECT run_id, $6, $7::jsonb FROM closed) "
          "SELECT pg_notify('vecsync_run', run_id::text), "
          "  (SELECT count(*) FROM open_steps) FROM closed",
          run_id, std::string(WorkflowStatusName(status)), JsonParam(result), JsonParam(failure),
          generation ? std::optional<std::string>(std::to_string(*generation)) : std::nullopt,
          event, attributes.dump()));
  return r.rows() == 1;
}

absl::Status Store::ReleaseRun(const std::string& run_id, int64_t generation) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  return conn
      ->Query(
          "WITH u AS (UPDATE vecsync.executions SET owner = NULL, lease_expires_at = NULL "
          "  WHERE run_id = $1 AND lease_generation = $2 AND status = 'RUNNING' "
          "  RETURNING run_id) "
          "SELECT pg_notify('vecsync_workflow', '') FROM u",
          run_id, generation)
      .status();
}

absl::StatusOr<std::vector<LeaseState>> Store::RenewRuns(const std::vector<LeaseKey>& keys,
                                                         absl::Duration lease) {
  if (keys.empty()) return std::vector<LeaseState>{};
  std::vector<int64_t> generations;
  const std::string runs = RunKeyList(keys, nullptr, &generations);
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(
          absl::StrCat("UPDATE vecsync.executions e SET lease_expires_at = now() + $3 * ", kMs,
                       " FROM unnest($1::uuid[], $2::bigint[]) AS v(run_id, gen) "
                       "WHERE e.run_id = v.run_id AND e.lease_generation = v.gen "
                       "  AND e.status = 'RUNNING' "
                       "RETURNING e.run_id, e.lease_generation, e.cancel_requested"),
          runs, PgArrayLiteral(generations), absl::ToInt64Milliseconds(lease)));
  std::vector<LeaseState> held;
  for (int i = 0; i < r.rows(); ++i) {
    held.push_back({{r.GetString(i, 0), -1, r.GetInt64(i, 1)}, r.GetBool(i, 2)});
  }
  return held;
}

// ---- activities ----------------------------------------------------------------------------

absl::StatusOr<std::vector<ClaimedActivity>> Store::ClaimActivities(
    const std::vector<std::string>& types, int limit, absl::Duration lease) {
  static const std::string kSql = absl::StrCat(
      "WITH c AS ("
      "  SELECT run_id, seq FROM vecsync.steps "
      "  WHERE kind = 'activity' AND status = 'SCHEDULED' AND visible_at <= now() "
      "    AND name = ANY($2::text[]) "
      "    AND (schedule_deadline IS NULL OR schedule_deadline > now()) "
      "  ORDER BY visible_at LIMIT $3 FOR UPDATE SKIP LOCKED), "
      "t AS (SELECT s.run_id, s.seq, now() + $4 * ",
      kMs,
      " AS lease_until, "
      "  least(now() + (s.options->>'start_to_close_ms')::bigint * ",
      kMs,
      ", s.schedule_deadline) AS attempt_until, "
      "  now() + (s.options->>'heartbeat_ms')::bigint * ",
      kMs,
      " AS heartbeat_until "
      "  FROM vecsync.steps s JOIN c USING (run_id, seq)) "
      "UPDATE vecsync.steps s SET status = 'STARTED', attempt = s.attempt + 1, "
      "  generation = s.generation + 1, owner = $1, started_at = now(), "
      "  lease_expires_at = t.lease_until, attempt_deadline = t.attempt_until, "
      "  heartbeat_deadline = t.heartbeat_until, "
      "  timeout_at = least(t.lease_until, t.attempt_until, t.heartbeat_until) "
      "FROM t WHERE s.run_id = t.run_id AND s.seq = t.seq "
      "RETURNING ",
      ActivityColumns("s"));
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r, conn->Query(kSql, identity_, PgArrayLiteral(types), limit,
                                           absl::ToInt64Milliseconds(lease)));
  std::vector<ClaimedActivity> claimed;
  for (int i = 0; i < r.rows(); ++i) claimed.push_back(ReadActivity(r, i));
  return claimed;
}

absl::StatusOr<std::vector<LeaseKey>> Store::CompleteActivities(
    const std::vector<CompletedActivity>& completions) {
  std::vector<std::string> runs, results;
  std::vector<int64_t> seqs, generations;
  for (const CompletedActivity& c : completions) {
    runs.push_back(c.run_id);
    seqs.push_back(c.seq);
    generations.push_back(c.generation);
    results.push_back(c.result.dump());
  }
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query("WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], "
                  "  $4::text[]) AS v(run_id, seq, gen, result)), "
                  "done AS ("
                  "  UPDATE vecsync.steps s SET status = 'COMPLETED', result = v.result::jsonb, "
                  "    closed_at = now(), owner = NULL, timeout_at = NULL, "
                  "    lease_expires_at = NULL "
                  "  FROM v WHERE s.run_id = v.run_id AND s.seq = v.seq "
                  "    AND s.generation = v.gen AND s.status = 'STARTED' "
                  "  RETURNING s.run_id, s.seq, s.generation, s.attempt, s.result), "
                  "h AS (INSERT INTO vecsync.history (run_id, seq, event_type, attributes) "
                  "  SELECT run_id, seq, 'ActivityTaskCompleted', "
                  "    jsonb_build_object('attempt', attempt, 'result', result) FROM done), "
                  "n AS (SELECT pg_notify('vecsync_step', run_id::text || ' ' || $5) "
                  "  FROM (SELECT DISTINCT run_id FROM done) d) "
                  "SELECT run_id, seq, generation, (SELECT count(*) FROM n) FROM done",
                  PgArrayLiteral(runs), PgArrayLiteral(seqs), PgArrayLiteral(generations),
                  PgArrayLiteral(results), identity_));
  std::vector<LeaseKey> accepted;
  for (int i = 0; i < r.rows(); ++i) {
    accepted.push_back({r.GetString(i, 0), r.GetInt64(i, 1), r.GetInt64(i, 2)});
  }
  return accepted;
}

absl::StatusOr<AttemptOutcome> Store::FailActivity(const ClaimedActivity& activity,
                                                   const absl::Status& error, const Json& details,
                                                   absl::Duration* retry_delay) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT cancel_requested FROM vecsync.steps "
                                           "WHERE run_id = $1 AND seq = $2",
                                           activity.run_id, activity.seq));
  const bool cancel_requested = r.rows() == 1 && r.GetBool(0, 0);
  return ResolveFailedAttempt(*conn, identity_, activity, error, details, cancel_requested,
                              retry_delay);
}

absl::StatusOr<LeaseState> Store::Heartbeat(const LeaseKey& key, const Json& details,
                                            absl::Duration lease) {
  static const std::string kSql = absl::StrCat(
      "WITH t AS (SELECT now() + $5 * ", kMs,
      " AS lease_until, now() + (options->>'heartbeat_ms')::bigint * ", kMs,
      " AS heartbeat_until FROM vecsync.steps WHERE run_id = $1 AND seq = $2) "
      "UPDATE vecsync.steps SET heartbeat_details = COALESCE($4::jsonb, heartbeat_details), "
      "  lease_expires_at = t.lease_until, heartbeat_deadline = t.heartbeat_until, "
      "  timeout_at = least(t.lease_until, attempt_deadline, t.heartbeat_until) "
      "FROM t WHERE run_id = $1 AND seq = $2 AND generation = $3 "
      "  AND status IN ('STARTED', 'CANCELED') "
      "RETURNING cancel_requested");
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r, conn->Query(kSql, key.run_id, key.seq, key.generation,
                                           JsonParam(details), absl::ToInt64Milliseconds(lease)));
  if (r.rows() != 1) {
    return absl::AbortedError(absl::StrCat("activity ", key.seq, " of run ", key.run_id,
                                           " is no longer held by this attempt"));
  }
  return LeaseState{key, r.GetBool(0, 0)};
}

absl::StatusOr<std::vector<LeaseState>> Store::RenewActivities(const std::vector<LeaseKey>& keys,
                                                               absl::Duration lease) {
  if (keys.empty()) return std::vector<LeaseState>{};
  std::vector<int64_t> seqs, generations;
  const std::string runs = RunKeyList(keys, &seqs, &generations);
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(
          absl::StrCat("UPDATE vecsync.steps s SET lease_expires_at = now() + $4 * ", kMs,
                       ", timeout_at = least(now() + $4 * ", kMs,
                       ", s.attempt_deadline, s.heartbeat_deadline) "
                       "FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS v(run_id, seq, gen) "
                       "WHERE s.run_id = v.run_id AND s.seq = v.seq AND s.generation = v.gen "
                       "  AND s.status IN ('STARTED', 'CANCELED') "
                       "RETURNING s.run_id, s.seq, s.generation, s.cancel_requested"),
          runs, PgArrayLiteral(seqs), PgArrayLiteral(generations),
          absl::ToInt64Milliseconds(lease)));
  std::vector<LeaseState> held;
  for (int i = 0; i < r.rows(); ++i) {
    held.push_back({{r.GetString(i, 0), r.GetInt64(i, 1), r.GetInt64(i, 2)}, r.GetBool(i, 3)});
  }
  return held;
}

absl::Status Store::HandBackActivity(const LeaseKey& key) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  return conn
      ->Query(
          "WITH u AS (UPDATE vecsync.steps SET status = 'SCHEDULED', "
          "  attempt = attempt - 1, owner = NULL, visible_at = now(), "
          "  lease_expires_at = NULL, attempt_deadline = NULL, heartbeat_deadline = NULL, "
          "  timeout_at = NULL "
          "  WHERE run_id = $1 AND seq = $2 AND generation = $3 AND status = 'STARTED' "
          "  RETURNING 1) "
          "SELECT pg_notify('vecsync_activity', '') FROM u",
          key.run_id, key.seq, key.generation)
      .status();
}

// ---- timeouts ------------------------------------------------------------------------------

absl::StatusOr<int> Store::SweepTimeouts(int limit) {
  int resolved = 0;
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  {
    // Attempts whose lease, start-to-close or heartbeat deadline passed.
    PgTransaction txn(*conn);
    RETURN_IF_ERROR(txn.Begin());
    ASSIGN_OR_RETURN(
        PgResult r,
        conn->Query(absl::StrCat("SELECT ", ActivityColumns("s"),
                                 ", s.attempt_deadline <= now(), s.heartbeat_deadline <= now(), "
                                 "  s.cancel_requested "
                                 "FROM vecsync.steps s "
                                 "WHERE s.status = 'STARTED' AND s.timeout_at <= now() "
                                 "ORDER BY s.timeout_at LIMIT $1 FOR UPDATE SKIP LOCKED"),
                    limit));
    for (int i = 0; i < r.rows(); ++i) {
      const ClaimedActivity a = ReadActivity(r, i);
      absl::Status error;
      if (r.GetBool(i, 11)) {
        error = ApplicationError(kTimeoutErrorType,
                                 "activity attempt exceeded its start-to-close "
                                 "timeout",
                                 false, absl::StatusCode::kDeadlineExceeded);
      } else if (r.GetBool(i, 12)) {
        error = ApplicationError(kTimeoutErrorType, "activity missed its heartbeat timeout", false,
                                 absl::StatusCode::kDeadlineExceeded);
      } else {
        error = ApplicationError(kWorkerLostErrorType,
                                 "the worker running this attempt stopped renewing its lease",
                                 false, absl::StatusCode::kUnavailable);
      }
      ASSIGN_OR_RETURN(AttemptOutcome outcome,
                       ResolveFailedAttempt(*conn, kSweeperIdentity, a, error, Json(),
                                            r.GetBool(i, 13), nullptr));
      if (outcome != AttemptOutcome::kNotOwned) ++resolved;
    }
    RETURN_IF_ERROR(txn.Commit());
  }
  // Activities still waiting when their schedule-to-close deadline passed.
  const Json timeout = FailureToJson(
      ApplicationError(kTimeoutErrorType, "activity exceeded its schedule-to-close timeout", false,
                       absl::StatusCode::kDeadlineExceeded));
  ASSIGN_OR_RETURN(
      PgResult scheduled,
      conn->Query("WITH f AS ("
                  "  UPDATE vecsync.steps SET status = 'FAILED', failure = $2::jsonb, "
                  "    closed_at = now() "
                  "  WHERE (run_id, seq) IN (SELECT run_id, seq FROM vecsync.steps "
                  "    WHERE kind = 'activity' AND status = 'SCHEDULED' "
                  "      AND schedule_deadline <= now() LIMIT $1 FOR UPDATE SKIP LOCKED) "
                  "  RETURNING run_id, seq, attempt), "
                  "h AS (INSERT INTO vecsync.history (run_id, seq, event_type, attributes) "
                  "  SELECT run_id, seq, 'ActivityTaskTimedOut', "
                  "    jsonb_build_object('attempt', attempt, 'failure', $2::jsonb) FROM f) "
                  "SELECT pg_notify('vecsync_step', run_id::text || ' ' || $3) "
                  "FROM (SELECT DISTINCT run_id FROM f) d",
                  limit, timeout.dump(), kSweeperIdentity));
  resolved += scheduled.rows();
  // Runs past their execution timeout.
  ASSIGN_OR_RETURN(PgResult runs,
                   conn->Query("SELECT run_id FROM vecsync.executions WHERE status = 'RUNNING' "
                               "AND execution_deadline <= now() LIMIT $1",
                               limit));
  const Json run_timeout =
      FailureToJson(ApplicationError(kTimeoutErrorType, "workflow execution timeout exceeded", true,
                                     absl::StatusCode::kDeadlineExceeded));
  for (int i = 0; i < runs.rows(); ++i) {
    ASSIGN_OR_RETURN(bool closed, CloseRunOn(*conn, runs.GetString(i, 0), std::nullopt,
                                             WorkflowStatus::kTimedOut, Json(), run_timeout));
    if (closed) ++resolved;
  }
  return resolved;
}

}  // namespace vecsync::engine
