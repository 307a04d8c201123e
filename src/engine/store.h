// The engine's persistence on PostgreSQL: every state transition of runs and activities.
//
// Each method is one transaction (most are one statement), so a transition's history events,
// execution state and new tasks commit together or not at all. Writes made on behalf of a
// lease holder are fenced by the generation the claim returned: once another worker has
// claimed the run or activity, the old holder's writes change nothing and return ABORTED.
//
// Errors: UNAVAILABLE when PostgreSQL cannot be reached (retry later; every fenced write is
// safe to repeat), ABORTED when a fence failed, INTERNAL for anything unexpected.
//
// Thread-safe: each call borrows its own connection from the pool.
#ifndef VECSYNC_ENGINE_STORE_H_
#define VECSYNC_ENGINE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "src/common/pg_pool.h"
#include "src/engine/types.h"

namespace vecsync::engine {

// A run whose workflow code this worker now runs.
struct ClaimedRun {
  std::string run_id;
  std::string workflow_id;
  std::string workflow_type;
  Json input;
  int64_t generation = 0;
  Json checkpoint;  // null when none.
  int64_t checkpoint_seq = 0;
  bool cancel_requested = false;
  bool reclaimed = false;  // Another worker held it before (a takeover or a hand-back).
};

// A command the workflow issued, as recorded.
struct StepRecord {
  int64_t seq = 0;
  std::string kind;    // "activity", "timer", "marker".
  std::string name;    // Activity type, "timer", or the marker's name.
  std::string status;  // SCHEDULED, STARTED, COMPLETED, FAILED, CANCELED.
  Json result;         // The activity result or the marker's value.
  Json failure;
  absl::Time fire_at;  // Timers only.

  bool closed() const {
    return status == "COMPLETED" || status == "FAILED" || status == "CANCELED";
  }
};

// A new command to record.
struct NewStep {
  int64_t seq = 0;
  std::string kind;  // "activity", "timer", "marker".
  std::string name;
  Json payload;                       // Activity input, or the marker's value.
  Json options;                       // Activity options (ActivityOptions::ToJson()).
  std::optional<absl::Time> fire_at;  // Timers.
  std::optional<absl::Duration> schedule_to_close_timeout;  // Activities.
};

// Everything a workflow issued since it last waited, committed together.
struct CommandBatch {
  std::vector<NewStep> new_steps;
  std::vector<int64_t> cancel_activities;
  std::vector<int64_t> fired_timers;
  std::optional<std::string> progress;  // Replaces the run's progress document (JSON text).

  bool empty() const {
    return new_steps.empty() && cancel_activities.empty() && fired_timers.empty() &&
           !progress.has_value();
  }
};

// What a waiting workflow learns when it looks at the database again.
struct RunRefresh {
  bool owned = false;  // False: the lease was lost or the run closed.
  bool cancel_requested = false;
  std::vector<StepRecord> closed_steps;
};

// An activity attempt this worker now runs.
struct ClaimedActivity {
  std::string run_id;
  std::string workflow_id;
  int64_t seq = 0;
  std::string activity_type;
  Json input;
  Json options;
  int attempt = 0;
  int64_t generation = 0;
  Json heartbeat_details;
  std::optional<absl::Time> schedule_deadline;
  absl::Time attempt_deadline = absl::InfiniteFuture();
};

struct CompletedActivity {
  std::string run_id;
  int64_t seq = 0;
  int64_t generation = 0;
  Json result;
};

// The fencing key of a leased run (seq = -1) or activity.
struct LeaseKey {
  std::string run_id;
  int64_t seq = -1;
  int64_t generation = 0;
};

struct LeaseState {
  LeaseKey key;
  bool cancel_requested = false;
};

// How a failed attempt was resolved.
enum class AttemptOutcome { kRetryScheduled, kClosed, kNotOwned };

class Store {
 public:
  // `identity` names this worker in leases and notifications.
  Store(PgPool* pool, std::string identity);

  const std::string& identity() const { return identity_; }
  PgPool* pool() const { return pool_; }

  // ---- runs ----

  // Claims up to `limit` runs of `types` that no live worker holds.
  absl::StatusOr<std::vector<ClaimedRun>> ClaimRuns(const std::vector<std::string>& types,
                                                    int limit, absl::Duration lease);
  // The recorded commands with seq >= from_seq, in order.
  absl::StatusOr<std::vector<StepRecord>> LoadSteps(const std::string& run_id, int64_t from_seq);
  // Records a batch of commands (fenced). Idempotent: a step already recorded is kept.
  absl::Status CommitCommands(const std::string& run_id, int64_t generation,
                              const std::string& workflow_id, const CommandBatch& batch);
  absl::StatusOr<RunRefresh> Refresh(const std::string& run_id, int64_t generation,
                                     const std::vector<int64_t>& waiting_seqs);
  // Saves the checkpoint and deletes the steps and history events before next_seq (fenced).
  absl::Status SaveCheckpoint(const std::string& run_id, int64_t generation, const Json& state,
                              int64_t next_seq);
  // Closes a running run with a terminal status, cancels its open steps and appends
  // `event_type`. Fenced by `generation` when given. Returns false when the run was not
  // running (or the fence failed).
  absl::StatusOr<bool> CloseRun(const std::string& run_id, std::optional<int64_t> generation,
                                WorkflowStatus status, const Json& result, const Json& failure);
  // Gives a held run back so another worker can claim it at once.
  absl::Status ReleaseRun(const std::string& run_id, int64_t generation);
  // Extends the leases of held runs; returns those still held.
  absl::StatusOr<std::vector<LeaseState>> RenewRuns(const std::vector<LeaseKey>& keys,
                                                    absl::Duration lease);

  // ---- activities ----

  absl::StatusOr<std::vector<ClaimedActivity>> ClaimActivities(
      const std::vector<std::string>& types, int limit, absl::Duration lease);
  // Completes attempts (fenced, one statement); returns the keys it accepted.
  absl::StatusOr<std::vector<LeaseKey>> CompleteActivities(
      const std::vector<CompletedActivity>& completions);
  // Records a failed attempt: schedules a retry by the activity's retry policy, or closes it as
  // FAILED (or CANCELED when cancellation was requested and `error` is CANCELLED).
  // `details` (when not null) replaces the heartbeat details handed to the next attempt.
  absl::StatusOr<AttemptOutcome> FailActivity(const ClaimedActivity& activity,
                                              const absl::Status& error, const Json& details,
                                              absl::Duration* retry_delay);
  // Records heartbeat details and extends the lease. Returns the lease state (cancel_requested
  // also once the run closed and canceled the activity), or ABORTED when another attempt
  // holds the activity.
  absl::StatusOr<LeaseState> Heartbeat(const LeaseKey& key, const Json& details,
                                       absl::Duration lease);
  absl::StatusOr<std::vector<LeaseState>> RenewActivities(const std::vector<LeaseKey>& keys,
                                                          absl::Duration lease);
  // Returns an unfinished attempt to the queue without counting it.
  absl::Status HandBackActivity(const LeaseKey& key);

  // ---- timeouts ----

  // Resolves up to `limit` timed-out attempts (start-to-close, heartbeat, or an expired lease
  // of a dead worker), activities past schedule-to-close, and runs past their execution
  // timeout. Returns how many it resolved. Safe to run from every worker at once.
  absl::StatusOr<int> SweepTimeouts(int limit);

 private:
  PgPool* const pool_;
  const std::string identity_;
};

// Store::CloseRun on a given connection, for callers that close a run inside their own
// transaction.
absl::StatusOr<bool> CloseRunOn(PgConnection& conn, const std::string& run_id,
                                std::optional<int64_t> generation, WorkflowStatus status,
                                const Json& result, const Json& failure);

// SQL expression converting a timestamptz column to microseconds since the epoch.
std::string EpochMicros(absl::string_view column);
// Microseconds since the epoch (as PostgreSQL returns them) to absl::Time.
inline absl::Time FromEpochMicros(int64_t us) { return absl::FromUnixMicros(us); }

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_STORE_H_
