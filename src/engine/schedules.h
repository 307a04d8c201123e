// Schedules: start a workflow whenever a cron spec (src/engine/cron.h) says, with Temporal's
// policies. This class is both the control plane (create, describe, list, update, delete,
// pause, unpause, trigger) and the scheduler's step (RunDue), since both apply the same overlap
// rules.
//
// Semantics, following Temporal:
// - Each due time (plus a jitter drawn deterministically from the schedule and the time, in
//   [0, jitter)) is acted on once, however many schedulers run: due rows are claimed with
//   FOR UPDATE SKIP LOCKED, and the started workflow's id is "<schedule_id>-<due time>" with a
//   request_id derived from both, so a retry after a crash finds the run instead of starting
//   another.
// - A due time more than the catch-up window in the past (the scheduler was down) is not acted
//   on and counts as missed; due times within the window are acted on in order.
// - Overlap, when the previous action's run is still running: SKIP (default) drops the new
//   action; BUFFER_ONE keeps one to start when the run closes (more are dropped); ALLOW_ALL
//   starts anyway; CANCEL_OTHER asks the running run to cancel and starts the new action when
//   it has closed; TERMINATE_OTHER terminates it and starts at once.
// - A paused schedule takes no scheduled actions; unpausing does not catch up on the times that
//   passed while paused. Trigger acts at once, paused or not, under the overlap policy (or the
//   one given).
//
// Errors: INVALID_ARGUMENT naming the field; NOT_FOUND; ALREADY_EXISTS on create;
// FAILED_PRECONDITION for a stale conflict_token; UNAVAILABLE when PostgreSQL is down.
//
// Thread-safe.
#ifndef VECSYNC_ENGINE_SCHEDULES_H_
#define VECSYNC_ENGINE_SCHEDULES_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/json.h"
#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "src/engine/registry.h"

namespace vecsync::engine {

enum class OverlapPolicy { kSkip, kBufferOne, kAllowAll, kCancelOther, kTerminateOther };

// "SKIP", "BUFFER_ONE", … as stored and shown.
absl::string_view OverlapPolicyName(OverlapPolicy policy);
// Case-insensitive; INVALID_ARGUMENT listing the valid names.
absl::StatusOr<OverlapPolicy> ParseOverlapPolicy(absl::string_view name);

inline constexpr absl::Duration kMinCatchupWindow = absl::Seconds(10);
inline constexpr absl::Duration kDefaultCatchupWindow = absl::Hours(24 * 365);
inline constexpr absl::Duration kMaxJitter = absl::Hours(24 * 7);
inline constexpr int kRecentActions = 10;
inline constexpr int kFutureActionTimes = 10;

struct ScheduleDefinition {
  std::string schedule_id;
  // The cron string; a CRON_TZ=/TZ= prefix overrides `time_zone`.
  std::string cron;
  std::string time_zone = "UTC";
  absl::Duration jitter = absl::ZeroDuration();
  // What each action starts.
  std::string workflow_type;
  Json input = Json::object();
  std::optional<absl::Duration> execution_timeout;
  OverlapPolicy overlap_policy = OverlapPolicy::kSkip;
  absl::Duration catchup_window = kDefaultCatchupWindow;
  bool paused = false;
  std::string notes;
};

struct ScheduleActionResult {
  absl::Time schedule_time;  // The due time with jitter (the trigger time for manual ones).
  absl::Time actual_time;
  std::string workflow_id;
  std::string run_id;   // Empty when the start failed (see error) or was skipped.
  bool manual = false;  // Trigger, not the spec.
  std::string error;    // Why the start failed, e.g. an input the workflow no longer accepts.
};

struct ScheduleDescription {
  ScheduleDefinition definition;
  int64_t action_count = 0;
  int64_t missed_catchup_window = 0;
  int64_t overlap_skipped = 0;
  std::vector<ScheduleActionResult> recent_actions;  // Oldest first, at most kRecentActions.
  std::vector<absl::Time> future_action_times;       // With jitter, at most kFutureActionTimes.
  std::vector<RunRef> running_workflows;
  std::optional<absl::Time> buffered_action_time;
  absl::Time create_time;
  absl::Time update_time;
  int64_t conflict_token = 0;
};

struct ScheduleListPage {
  std::vector<ScheduleDescription> schedules;  // By schedule_id; recent/future lists left empty.
  std::string next_page_token;
};

// What Trigger did.
struct TriggerResult {
  bool started = false;  // False when the overlap policy skipped or buffered it.
  std::string workflow_id;
  std::string run_id;
  std::string outcome;  // "started", "skipped", "buffered" or "failed: …".
};

class Schedules {
 public:
  using Clock = std::function<absl::Time()>;

  // None of the pointers is owned. `clock` is the scheduler's notion of now (tests move it).
  // `pool` must not be the pool `client` uses: a schedule's row stays locked on a connection
  // from `pool` while `client` starts its workflow on another, and with one shared pool
  // concurrent triggers could hold every connection while waiting for that lock.
  Schedules(PgPool* pool, const Registry* registry, Client* client, Clock clock = absl::Now);

  absl::Status Create(const ScheduleDefinition& definition);
  absl::StatusOr<ScheduleDescription> Describe(const std::string& schedule_id);
  absl::StatusOr<ScheduleListPage> List(int page_size, const std::string& page_token);
  // Replaces the definition (state and counters are kept); the next due time is recomputed
  // from now. With `expected_conflict_token` set, FAILED_PRECONDITION when it is stale.
  absl::Status Update(const ScheduleDefinition& definition,
                      std::optional<int64_t> expected_conflict_token = std::nullopt);
  // Runs already started keep running.
  absl::Status Delete(const std::string& schedule_id);
  absl::Status Pause(const std::string& schedule_id, const std::string& note);
  absl::Status Unpause(const std::string& schedule_id, const std::string& note);
  absl::StatusOr<TriggerResult> Trigger(const std::string& schedule_id,
                                        std::optional<OverlapPolicy> overlap = std::nullopt);

  // The scheduler's step: acts on every due schedule (and buffered action whose blocking run
  // has closed) as of clock(). Returns how many workflows it started.
  absl::StatusOr<int> RunDue();

  // How long until RunDue has something to do, at most `limit`; for the loop's sleep.
  absl::StatusOr<absl::Duration> TimeUntilDue(absl::Duration limit);

 private:
  struct Row;
  absl::Status Validate(const ScheduleDefinition& definition) const;
  absl::StatusOr<Row> Lock(PgConnection& conn, const std::string& schedule_id);
  // Applies the overlap policy to one action due at `nominal` and records it on `row`.
  absl::StatusOr<TriggerResult> Act(PgConnection& conn, Row& row, absl::Time nominal,
                                    absl::Time fire_time, bool manual, OverlapPolicy overlap,
                                    const std::string& request_key);
  absl::StatusOr<TriggerResult> StartAction(Row& row, absl::Time nominal, absl::Time fire_time,
                                            bool manual, const std::string& request_key);
  absl::Status Save(PgConnection& conn, const Row& row);
  absl::StatusOr<bool> IsRunning(PgConnection& conn, const Row& row);

  PgPool* const pool_;
  const Registry* const registry_;
  Client* const client_;
  const Clock clock_;
};

// The deterministic jitter of `schedule_id` for the due time `nominal`: in [0, jitter).
absl::Duration ScheduleJitter(const std::string& schedule_id, absl::Time nominal,
                              absl::Duration jitter);

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_SCHEDULES_H_
