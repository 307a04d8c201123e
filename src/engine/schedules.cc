#include "src/engine/schedules.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/log.h"
#include "src/common/metrics.h"
#include "src/common/stable_hash.h"
#include "src/common/status_macros.h"
#include "src/common/uuid.h"
#include "src/engine/cron.h"

namespace vecsync::engine {
namespace {

constexpr size_t kMaxScheduleIdLength = 200;
constexpr size_t kMaxNotesLength = 4096;
// Due times one RunDue acts on per schedule; the rest wait for the next step.
constexpr int kMaxDueTimesPerStep = 1000;

constexpr char kColumns[] =
    "schedule_id, cron, time_zone, jitter_ms, workflow_type, workflow_input, "
    "execution_timeout_ms, overlap_policy, catchup_window_ms, paused, notes, "
    "(EXTRACT(EPOCH FROM next_nominal_time) * 1000000)::bigint, "
    "(EXTRACT(EPOCH FROM next_fire_time) * 1000000)::bigint, "
    "(EXTRACT(EPOCH FROM buffered_nominal_time) * 1000000)::bigint, "
    "last_workflow_id, last_run_id::text, action_count, missed_catchup_window, overlap_skipped, "
    "recent_actions, conflict_token, (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint, "
    "(EXTRACT(EPOCH FROM updated_at) * 1000000)::bigint";

std::optional<absl::Time> OptionalMicros(const PgResult& r, int i, int col) {
  if (r.IsNull(i, col)) return std::nullopt;
  return absl::FromUnixMicros(r.GetInt64(i, col));
}

PgParam MicrosParam(std::optional<absl::Time> t) {
  return t ? PgParam(std::to_string(absl::ToUnixMicros(*t))) : std::nullopt;
}

std::string Rfc3339(absl::Time t, bool millis) {
  return absl::FormatTime(millis ? "%Y-%m-%dT%H:%M:%E3SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

absl::Status RequireId(const std::string& schedule_id) {
  if (schedule_id.empty()) return absl::InvalidArgumentError("schedule_id is required");
  if (schedule_id.size() > kMaxScheduleIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("schedule_id is ", schedule_id.size(),
                                                   " bytes; the limit is ", kMaxScheduleIdLength));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view OverlapPolicyName(OverlapPolicy policy) {
  switch (policy) {
    case OverlapPolicy::kSkip:
      return "SKIP";
    case OverlapPolicy::kBufferOne:
      return "BUFFER_ONE";
    case OverlapPolicy::kAllowAll:
      return "ALLOW_ALL";
    case OverlapPolicy::kCancelOther:
      return "CANCEL_OTHER";
    case OverlapPolicy::kTerminateOther:
      return "TERMINATE_OTHER";
  }
  return "SKIP";
}

absl::StatusOr<OverlapPolicy> ParseOverlapPolicy(absl::string_view name) {
  for (OverlapPolicy p : {OverlapPolicy::kSkip, OverlapPolicy::kBufferOne, OverlapPolicy::kAllowAll,
                          OverlapPolicy::kCancelOther, OverlapPolicy::kTerminateOther}) {
    if (absl::EqualsIgnoreCase(name, OverlapPolicyName(p))) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("overlap_policy '", name,
                   "' is not one of SKIP, BUFFER_ONE, ALLOW_ALL, CANCEL_OTHER, TERMINATE_OTHER"));
}

absl::Duration ScheduleJitter(const std::string& schedule_id, absl::Time nominal,
                              absl::Duration jitter) {
  const int64_t range_ms = absl::ToInt64Milliseconds(jitter);
  if (range_ms <= 0) return absl::ZeroDuration();
  // FNV-1a, for a jitter that every scheduler computes alike.
  const uint64_t h = Fnv1a(absl::StrCat(schedule_id, "@", absl::ToUnixMicros(nominal)));
  return absl::Milliseconds(static_cast<int64_t>(h % static_cast<uint64_t>(range_ms)));
}

namespace {

metrics::Counter& ScheduleActions() {
  static metrics::Counter& actions = metrics::Counter::Get(
      "vecsync_schedule_actions_total",
      "What schedules did at their due times (and triggers): started, skipped (overlap), "
      "buffered, missed (outside the catch-up window) or failed",
      {"schedule_id", "outcome"});
  return actions;
}

}  // namespace

// A schedule row: its definition, its spec parsed, and its state.
struct Schedules::Row {
  ScheduleDefinition def;
  std::optional<CronSpec> spec;
  std::optional<absl::Time> next_nominal;
  std::optional<absl::Time> next_fire;
  std::optional<absl::Time> buffered;
  std::string last_workflow_id;
  std::string last_run_id;
  int64_t action_count = 0;
  int64_t missed = 0;
  int64_t skipped = 0;
  Json recent = Json::array();
  int64_t conflict_token = 0;
  absl::Time created;
  absl::Time updated;

  static absl::StatusOr<Row> Read(const PgResult& r, int i) {
    Row row;
    ScheduleDefinition& d = row.def;
    d.schedule_id = r.GetString(i, 0);
    d.cron = r.GetString(i, 1);
    d.time_zone = r.GetString(i, 2);
    d.jitter = absl::Milliseconds(r.GetInt64(i, 3));
    d.workflow_type = r.GetString(i, 4);
    d.input = r.GetJson(i, 5);
    if (!r.IsNull(i, 6)) d.execution_timeout = absl::Milliseconds(r.GetInt64(i, 6));
    d.overlap_policy = ParseOverlapPolicy(r.Get(i, 7)).value_or(OverlapPolicy::kSkip);
    d.catchup_window = absl::Milliseconds(r.GetInt64(i, 8));
    d.paused = r.GetBool(i, 9);
    d.notes = r.GetString(i, 10);
    row.next_nominal = OptionalMicros(r, i, 11);
    row.next_fire = OptionalMicros(r, i, 12);
    row.buffered = OptionalMicros(r, i, 13);
    row.last_workflow_id = r.GetString(i, 14);
    row.last_run_id = r.GetString(i, 15);
    row.action_count = r.GetInt64(i, 16);
    row.missed = r.GetInt64(i, 17);
    row.skipped = r.GetInt64(i, 18);
    row.recent = r.GetJson(i, 19);
    row.conflict_token = r.GetInt64(i, 20);
    row.created = absl::FromUnixMicros(r.GetInt64(i, 21));
    row.updated = absl::FromUnixMicros(r.GetInt64(i, 22));
    ASSIGN_OR_RETURN(CronSpec spec, CronSpec::Parse(d.cron, d.time_zone));
    row.spec = std::move(spec);
    return row;
  }

  // When the scheduler acts on the due time `nominal`: after its jitter, which never reaches
  // the next due time (so jitter cannot pile actions up behind each other).
  absl::Time FireTime(absl::Time nominal) const {
    absl::Duration range = def.jitter;
    if (std::optional<absl::Time> next = spec->Next(nominal)) {
      range = std::min(range, *next - nominal);
    }
    return nominal + ScheduleJitter(def.schedule_id, nominal, range);
  }

  // Moves the next due time to the first one after `after`.
  void ScheduleAfter(absl::Time after) {
    next_nominal = spec->Next(after);
    next_fire = next_nominal ? std::optional<absl::Time>(FireTime(*next_nominal)) : std::nullopt;
  }

  // The definition, counts and times; Describe adds the action lists.
  ScheduleDescription Summary() const {
    ScheduleDescription d;
    d.definition = def;
    d.action_count = action_count;
    d.missed_catchup_window = missed;
    d.overlap_skipped = skipped;
    d.buffered_action_time = buffered;
    d.create_time = created;
    d.update_time = updated;
    d.conflict_token = conflict_token;
    return d;
  }

  void Record(const ScheduleActionResult& action) {
    Json entry = {{"schedule_time_us", absl::ToUnixMicros(action.schedule_time)},
                  {"actual_time_us", absl::ToUnixMicros(action.actual_time)},
                  {"workflow_id", action.workflow_id},
                  {"run_id", action.run_id},
                  {"manual", action.manual}};
    if (!action.error.empty()) entry["error"] = action.error;
    recent.push_back(std::move(entry));
    while (recent.size() > static_cast<size_t>(kRecentActions)) recent.erase(recent.begin());
  }
};

Schedules::Schedules(PgPool* pool, const Registry* registry, Client* client, Clock clock)
    : pool_(pool), registry_(registry), client_(client), clock_(std::move(clock)) {}

absl::Status Schedules::Validate(const ScheduleDefinition& d) const {
  if (d.schedule_id.empty()) return absl::InvalidArgumentError("schedule_id is required");
  if (d.schedule_id.size() > kMaxScheduleIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("schedule_id is ", d.schedule_id.size(),
                                                   " bytes; the limit is ", kMaxScheduleIdLength));
  }
  for (char c : d.schedule_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "schedule_id '", d.schedule_id, "' may hold only letters, digits and - _ . :"));
    }
  }
  if (d.cron.empty()) return absl::InvalidArgumentError("cron is required");
  absl::StatusOr<CronSpec> spec = CronSpec::Parse(d.cron, d.time_zone);
  if (!spec.ok()) {
    const absl::string_view why = spec.status().message();
    return absl::InvalidArgumentError(absl::StartsWith(why, "cron") ? std::string(why)
                                                                    : absl::StrCat("cron: ", why));
  }
  if (d.jitter < absl::ZeroDuration() || d.jitter > kMaxJitter) {
    return absl::InvalidArgumentError(absl::StrCat("jitter must be between 0 and ",
                                                   absl::FormatDuration(kMaxJitter), ", got ",
                                                   absl::FormatDuration(d.jitter)));
  }
  if (d.catchup_window < kMinCatchupWindow) {
    return absl::InvalidArgumentError(
        absl::StrCat("catchup_window must be at least ", absl::FormatDuration(kMinCatchupWindow),
                     ", got ", absl::FormatDuration(d.catchup_window)));
  }
  if (d.workflow_type.empty()) return absl::InvalidArgumentError("workflow_type is required");
  if (!d.input.is_object()) return absl::InvalidArgumentError("input must be a JSON object");
  if (registry_ != nullptr) RETURN_IF_ERROR(registry_->ValidateStart(d.workflow_type, d.input));
  if (d.execution_timeout && *d.execution_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("execution_timeout must be positive");
  }
  if (d.notes.size() > kMaxNotesLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("notes are ", d.notes.size(), " bytes; the limit is ", kMaxNotesLength));
  }
  return absl::OkStatus();
}

absl::Status Schedules::Create(const ScheduleDefinition& d) {
  RETURN_IF_ERROR(Validate(d));
  Row row;
  row.def = d;
  row.spec = CronSpec::Parse(d.cron, d.time_zone).value();
  row.ScheduleAfter(clock_());
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  // Claim the id, then write the whole row the way every later change does.
  ASSIGN_OR_RETURN(PgResult r, conn->Query("INSERT INTO vecsync.schedules (schedule_id, cron, "
                                           "  workflow_type, catchup_window_ms) "
                                           "VALUES ($1, $2, $3, $4) "
                                           "ON CONFLICT (schedule_id) DO NOTHING RETURNING 1",
                                           d.schedule_id, d.cron, d.workflow_type,
                                           absl::ToInt64Milliseconds(d.catchup_window)));
  if (r.rows() == 0) {
    return absl::AlreadyExistsError(absl::StrCat("schedule '", d.schedule_id, "' already exists"));
  }
  RETURN_IF_ERROR(Save(*conn, row));
  RETURN_IF_ERROR(txn.Commit());
  LogInfo("schedule created", {{"schedule_id", d.schedule_id}, {"cron", d.cron}});
  return absl::OkStatus();
}

absl::StatusOr<Schedules::Row> Schedules::Lock(PgConnection& conn, const std::string& id) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query(absl::StrCat("SELECT ", kColumns,
                                                       " FROM vecsync.schedules "
                                                       "WHERE schedule_id = $1 FOR UPDATE"),
                                          id));
  if (r.rows() == 0) return absl::NotFoundError(absl::StrCat("no schedule '", id, "'"));
  return Row::Read(r, 0);
}

absl::Status Schedules::Save(PgConnection& conn, const Row& row) {
  const ScheduleDefinition& d = row.def;
  return conn
      .Query(
          "UPDATE vecsync.schedules SET cron = $2, time_zone = $3, jitter_ms = $4, "
          "  workflow_type = $5, workflow_input = $6::jsonb, execution_timeout_ms = $7, "
          "  overlap_policy = $8, catchup_window_ms = $9, paused = $10, notes = $11, "
          "  next_nominal_time = to_timestamp($12::bigint / 1e6), "
          "  next_fire_time = to_timestamp($13::bigint / 1e6), "
          "  buffered_nominal_time = to_timestamp($14::bigint / 1e6), "
          "  last_workflow_id = $15, last_run_id = NULLIF($16, '')::uuid, action_count = $17, "
          "  missed_catchup_window = $18, overlap_skipped = $19, recent_actions = $20::jsonb, "
          "  conflict_token = conflict_token + 1, updated_at = now() "
          "WHERE schedule_id = $1",
          d.schedule_id, d.cron, d.time_zone, absl::ToInt64Milliseconds(d.jitter), d.workflow_type,
          d.input.dump(),
          d.execution_timeout
              ? PgParam(std::to_string(absl::ToInt64Milliseconds(*d.execution_timeout)))
              : std::nullopt,
          std::string(OverlapPolicyName(d.overlap_policy)),
          absl::ToInt64Milliseconds(d.catchup_window), d.paused, d.notes,
          MicrosParam(row.next_nominal), MicrosParam(row.next_fire), MicrosParam(row.buffered),
          row.last_workflow_id.empty() ? PgParam(std::nullopt) : PgParam(row.last_workflow_id),
          row.last_run_id, row.action_count, row.missed, row.skipped, row.recent.dump())
      .status();
}

absl::StatusOr<bool> Schedules::IsRunning(PgConnection& conn, const Row& row) {
  if (row.last_run_id.empty()) return false;
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT status = 'RUNNING' FROM vecsync.executions "
                                          "WHERE run_id = $1::uuid",
                                          row.last_run_id));
  return r.rows() == 1 && r.GetBool(0, 0);
}

absl::StatusOr<TriggerResult> Schedules::StartAction(Row& row, absl::Time nominal,
                                                     absl::Time fire_time, bool manual,
                                                     const std::string& request_key) {
  StartWorkflowRequest req;
  req.workflow_type = row.def.workflow_type;
  // "<schedule>-<due time>"; a manual trigger adds part of its unique key, since two triggers
  // may share a millisecond.
  req.workflow_id = absl::StrCat(row.def.schedule_id, "-", Rfc3339(nominal, manual),
                                 manual ? "-" + request_key.substr(request_key.size() - 8) : "");
  req.request_id = absl::StrCat("schedule/", row.def.schedule_id, "/", request_key);
  req.input = row.def.input;
  req.execution_timeout = row.def.execution_timeout;
  ScheduleActionResult action;
  action.schedule_time = fire_time;
  action.actual_time = clock_();
  action.workflow_id = req.workflow_id;
  action.manual = manual;
  TriggerResult result;
  result.workflow_id = req.workflow_id;
  absl::StatusOr<StartWorkflowResult> started = client_->StartWorkflow(req);
  if (!started.ok()) {
    // The database being down is retried by the next step; anything else (an input the
    // workflow no longer accepts, a type no longer registered) is recorded, and the schedule
    // moves on rather than stalling forever.
    if (started.status().code() == absl::StatusCode::kUnavailable) return started.status();
    action.error = std::string(started.status().message());
    row.Record(action);
    LogWarning("schedule could not start its workflow", {{"schedule_id", row.def.schedule_id},
                                                         {"workflow_id", req.workflow_id},
                                                         {"error", started.status().ToString()}});
    result.outcome = absl::StrCat("failed: ", action.error);
    return result;
  }
  action.run_id = started->run_id;
  row.Record(action);
  row.last_workflow_id = started->workflow_id;
  row.last_run_id = started->run_id;
  ++row.action_count;
  LogInfo("schedule started workflow", {{"schedule_id", row.def.schedule_id},
                                        {"workflow_id", started->workflow_id},
                                        {"run_id", started->run_id}});
  result.started = true;
  result.run_id = started->run_id;
  result.outcome = "started";
  return result;
}

absl::StatusOr<TriggerResult> Schedules::Act(PgConnection& conn, Row& row, absl::Time nominal,
                                             absl::Time fire_time, bool manual,
                                             OverlapPolicy overlap,
                                             const std::string& request_key) {
  ASSIGN_OR_RETURN(bool running, IsRunning(conn, row));
  if (!running || overlap == OverlapPolicy::kAllowAll) {
    return StartAction(row, nominal, fire_time, manual, request_key);
  }
  const RunRef previous{row.last_workflow_id, row.last_run_id};
  TriggerResult result;
  switch (overlap) {
    case OverlapPolicy::kSkip:
      ++row.skipped;
      result.outcome = "skipped";
      return result;
    case OverlapPolicy::kBufferOne:
      if (row.buffered) {
        ++row.skipped;
        result.outcome = "skipped";
      } else {
        row.buffered = nominal;
        result.outcome = "buffered";
      }
      return result;
    case OverlapPolicy::kCancelOther: {
      absl::Status s = client_->RequestCancel(
          previous,
          absl::StrCat("schedule '", row.def.schedule_id, "' overlap policy CANCEL_OTHER"));
      if (!s.ok() && s.code() != absl::StatusCode::kFailedPrecondition) return s;
      if (row.buffered) ++row.skipped;  // The newest action replaces the one waiting.
      row.buffered = nominal;
      result.outcome = "buffered";
      return result;
    }
    case OverlapPolicy::kTerminateOther: {
      absl::Status s = client_->Terminate(
          previous,
          absl::StrCat("schedule '", row.def.schedule_id, "' overlap policy TERMINATE_OTHER"));
      if (!s.ok() && s.code() != absl::StatusCode::kFailedPrecondition) return s;
      return StartAction(row, nominal, fire_time, manual, request_key);
    }
    case OverlapPolicy::kAllowAll:
      break;
  }
  return StartAction(row, nominal, fire_time, manual, request_key);
}

absl::StatusOr<int> Schedules::RunDue() {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  const absl::Time now = clock_();
  ASSIGN_OR_RETURN(PgResult due,
                   conn->Query(absl::StrCat("SELECT ", kColumns,
                                            " FROM vecsync.schedules WHERE NOT paused AND "
                                            "  (next_fire_time <= to_timestamp($1::bigint / 1e6) "
                                            "   OR buffered_nominal_time IS NOT NULL) "
                                            "ORDER BY next_fire_time NULLS LAST LIMIT 100 "
                                            "FOR UPDATE SKIP LOCKED"),
                               absl::ToUnixMicros(now)));
  int started = 0;
  for (int i = 0; i < due.rows(); ++i) {
    absl::StatusOr<Row> row = Row::Read(due, i);
    if (!row.ok()) {
      // E.g. a time zone the system no longer knows. Park it (no next time) with the reason,
      // instead of meeting it again at every step; an update with a valid spec revives it.
      const std::string id = due.GetString(i, 0);
      LogWarning("schedule has an unreadable spec; parking it",
                 {{"schedule_id", id}, {"error", row.status().ToString()}});
      RETURN_IF_ERROR(
          conn->Query("UPDATE vecsync.schedules SET next_nominal_time = NULL, "
                      "  next_fire_time = NULL, buffered_nominal_time = NULL, notes = $2, "
                      "  updated_at = now() WHERE schedule_id = $1",
                      id, absl::StrCat("parked by the scheduler: ", row.status().message()))
              .status());
      continue;
    }
    bool changed = false;
    // A buffered action starts once the run it waits for has closed.
    if (row->buffered) {
      ASSIGN_OR_RETURN(bool running, IsRunning(*conn, *row));
      if (!running) {
        const absl::Time nominal = *row->buffered;
        row->buffered.reset();
        changed = true;
        ASSIGN_OR_RETURN(TriggerResult r, StartAction(*row, nominal, row->FireTime(nominal), false,
                                                      std::to_string(absl::ToUnixMicros(nominal))));
        started += r.started;
        ScheduleActions().Add({row->def.schedule_id, r.started ? "started" : "failed"});
      }
    }
    for (int n = 0; n < kMaxDueTimesPerStep && row->next_fire && *row->next_fire <= now; ++n) {
      const absl::Time nominal = *row->next_nominal;
      const absl::Time fire_time = *row->next_fire;
      row->ScheduleAfter(nominal);
      changed = true;
      if (now - fire_time > row->def.catchup_window) {
        ++row->missed;
        ScheduleActions().Add({row->def.schedule_id, "missed"});
        continue;
      }
      ASSIGN_OR_RETURN(TriggerResult r,
                       Act(*conn, *row, nominal, fire_time, false, row->def.overlap_policy,
                           std::to_string(absl::ToUnixMicros(nominal))));
      started += r.started;
      ScheduleActions().Add({row->def.schedule_id, r.outcome.substr(0, r.outcome.find(':'))});
    }
    // A buffered action still waiting is no change: its conflict token stays.
    if (changed) RETURN_IF_ERROR(Save(*conn, *row));
  }
  RETURN_IF_ERROR(txn.Commit());
  return started;
}

absl::StatusOr<TriggerResult> Schedules::Trigger(const std::string& id,
                                                 std::optional<OverlapPolicy> overlap) {
  RETURN_IF_ERROR(RequireId(id));
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(Row row, Lock(*conn, id));
  const absl::Time now = clock_();
  ASSIGN_OR_RETURN(TriggerResult result,
                   Act(*conn, row, now, now, true, overlap.value_or(row.def.overlap_policy),
                       absl::StrCat("trigger/", NewUuid())));
  RETURN_IF_ERROR(Save(*conn, row));
  RETURN_IF_ERROR(txn.Commit());
  ScheduleActions().Add({id, result.outcome.substr(0, result.outcome.find(':'))});
  return result;
}

absl::Status Schedules::Update(const ScheduleDefinition& d,
                               std::optional<int64_t> expected_conflict_token) {
  RETURN_IF_ERROR(Validate(d));
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(Row row, Lock(*conn, d.schedule_id));
  if (expected_conflict_token && *expected_conflict_token != row.conflict_token) {
    return absl::FailedPreconditionError(
        absl::StrCat("schedule '", d.schedule_id, "' changed since it was read (conflict_token ",
                     *expected_conflict_token, ", now ", row.conflict_token, ")"));
  }
  const bool paused = row.def.paused;
  const std::string notes = row.def.notes;
  row.def = d;
  row.def.paused = paused;  // Pause state changes through Pause and Unpause only.
  row.def.notes = notes;
  row.spec = CronSpec::Parse(d.cron, d.time_zone).value();
  row.ScheduleAfter(clock_());
  RETURN_IF_ERROR(Save(*conn, row));
  return txn.Commit();
}

absl::Status Schedules::Delete(const std::string& id) {
  RETURN_IF_ERROR(RequireId(id));
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r, conn->Query("DELETE FROM vecsync.schedules WHERE schedule_id = $1 "
                                           "RETURNING 1",
                                           id));
  if (r.rows() == 0) return absl::NotFoundError(absl::StrCat("no schedule '", id, "'"));
  LogInfo("schedule deleted", {{"schedule_id", id}});
  return absl::OkStatus();
}

absl::Status Schedules::Pause(const std::string& id, const std::string& note) {
  RETURN_IF_ERROR(RequireId(id));
  if (note.size() > kMaxNotesLength) return absl::InvalidArgumentError("note is too long");
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(Row row, Lock(*conn, id));
  row.def.paused = true;
  row.def.notes = note;
  RETURN_IF_ERROR(Save(*conn, row));
  return txn.Commit();
}

absl::Status Schedules::Unpause(const std::string& id, const std::string& note) {
  RETURN_IF_ERROR(RequireId(id));
  if (note.size() > kMaxNotesLength) return absl::InvalidArgumentError("note is too long");
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(Row row, Lock(*conn, id));
  if (row.def.paused) row.ScheduleAfter(clock_());  // No catching up on the paused time.
  row.def.paused = false;
  row.def.notes = note;
  RETURN_IF_ERROR(Save(*conn, row));
  return txn.Commit();
}

absl::StatusOr<ScheduleDescription> Schedules::Describe(const std::string& id) {
  RETURN_IF_ERROR(RequireId(id));
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r, conn->Query(absl::StrCat("SELECT ", kColumns,
                                                        " FROM vecsync.schedules "
                                                        "WHERE schedule_id = $1"),
                                           id));
  if (r.rows() == 0) return absl::NotFoundError(absl::StrCat("no schedule '", id, "'"));
  ASSIGN_OR_RETURN(Row row, Row::Read(r, 0));
  ScheduleDescription out = row.Summary();
  for (const Json& a : row.recent) {
    ScheduleActionResult action;
    action.schedule_time = absl::FromUnixMicros(a.value("schedule_time_us", int64_t{0}));
    action.actual_time = absl::FromUnixMicros(a.value("actual_time_us", int64_t{0}));
    action.workflow_id = a.value("workflow_id", "");
    action.run_id = a.value("run_id", "");
    action.manual = a.value("manual", false);
    action.error = a.value("error", "");
    out.recent_actions.push_back(std::move(action));
  }
  ASSIGN_OR_RETURN(bool running, IsRunning(*conn, row));
  if (running) out.running_workflows.push_back({row.last_workflow_id, row.last_run_id});
  if (!row.def.paused) {
    std::optional<absl::Time> t = row.next_nominal;
    for (int i = 0; i < kFutureActionTimes && t; ++i) {
      out.future_action_times.push_back(row.FireTime(*t));
      t = row.spec->Next(*t);
    }
  }
  return out;
}

absl::StatusOr<ScheduleListPage> Schedules::List(int page_size, const std::string& page_token) {
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be between 1 and ", kMaxPageSize, ", got ", page_size));
  }
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(PgResult r,
                   conn->Query(absl::StrCat("SELECT ", kColumns,
                                            " FROM vecsync.schedules WHERE schedule_id > $1 "
                                            "ORDER BY schedule_id LIMIT $2"),
                               page_token, page_size + 1));
  ScheduleListPage page;
  for (int i = 0; i < r.rows() && i < page_size; ++i) {
    ASSIGN_OR_RETURN(Row row, Row::Read(r, i));
    ScheduleDescription d = row.Summary();
    if (row.next_fire && !row.def.paused) d.future_action_times.push_back(*row.next_fire);
    page.schedules.push_back(std::move(d));
  }
  if (r.rows() > page_size) page.next_page_token = page.schedules.back().definition.schedule_id;
  return page;
}

absl::StatusOr<absl::Duration> Schedules::TimeUntilDue(absl::Duration limit) {
  const absl::Time now = clock_();
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r, conn->Query("SELECT (EXTRACT(EPOCH FROM min(next_fire_time)) * 1000000)::bigint, "
                              "  bool_or(buffered_nominal_time IS NOT NULL) "
                              "FROM vecsync.schedules WHERE NOT paused"));
  absl::Time wake = now + limit;
  if (!r.IsNull(0, 0)) wake = std::min(wake, absl::FromUnixMicros(r.GetInt64(0, 0)));
  // A buffered action waits on a run closing, which is not a time: look again soon.
  if (!r.IsNull(0, 1) && r.GetBool(0, 1)) wake = std::min(wake, now + absl::Seconds(1));
  return std::max(wake - now, absl::ZeroDuration());
}

}  // namespace vecsync::engine
