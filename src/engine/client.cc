#include "src/engine/client.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/common/metrics.h"
#include "src/common/status_macros.h"
#include "src/common/uuid.h"
#include "src/engine/errors.h"

namespace vecsync::engine {
namespace {

constexpr char kExecutionColumns[] =
    "workflow_id, run_id, workflow_type, status, input, result, failure, progress, "
    "cancel_requested, (EXTRACT(EPOCH FROM start_time) * 1000000)::bigint, "
    "(EXTRACT(EPOCH FROM close_time) * 1000000)::bigint, "
    "(EXTRACT(EPOCH FROM execution_deadline) * 1000000)::bigint";

ExecutionInfo ReadExecutionRow(const PgResult& r, int i) {
  ExecutionInfo e;
  e.workflow_id = r.GetString(i, 0);
  e.run_id = r.GetString(i, 1);
  e.workflow_type = r.GetString(i, 2);
  e.status = ParseWorkflowStatus(r.Get(i, 3)).value_or(WorkflowStatus::kRunning);
  e.input = r.GetJson(i, 4);
  e.result = r.GetJson(i, 5);
  e.failure = r.GetJson(i, 6);
  e.progress = r.GetJson(i, 7);
  e.cancel_requested = r.GetBool(i, 8);
  e.start_time = absl::FromUnixMicros(r.GetInt64(i, 9));
  if (!r.IsNull(i, 10)) e.close_time = absl::FromUnixMicros(r.GetInt64(i, 10));
  if (!r.IsNull(i, 11)) e.execution_deadline = absl::FromUnixMicros(r.GetInt64(i, 11));
  return e;
}

absl::Status ValidateId(const std::string& value, const char* field) {
  if (value.size() > kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes long; the limit is ", kMaxIdLength));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " must not contain control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRef(const RunRef& ref) {
  if (ref.workflow_id.empty()) return absl::InvalidArgumentError("workflow_id is required");
  RETURN_IF_ERROR(ValidateId(ref.workflow_id, "workflow_id"));
  if (!ref.run_id.empty()) {
    if (ref.run_id.size() != 36 || ref.run_id[8] != '-' || ref.run_id[13] != '-') {
      return absl::InvalidArgumentError(absl::StrCat("run_id '", ref.run_id, "' is not a UUID"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(int page_size) {
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be between 1 and ", kMaxPageSize, ", got ", page_size));
  }
  return absl::OkStatus();
}

}  // namespace

Client::Client(PgPool* pool, const Registry* registry) : pool_(pool), registry_(registry) {}

absl::StatusOr<StartWorkflowResult> Client::StartWorkflow(StartWorkflowRequest request) {
  if (request.workflow_type.empty()) return absl::InvalidArgumentError("workflow_type is required");
  if (!request.input.is_object()) {
    return absl::InvalidArgumentError("input must be a JSON object");
  }
  if (registry_ != nullptr) {
    RETURN_IF_ERROR(registry_->ValidateStart(request.workflow_type, request.input));
  }
  RETURN_IF_ERROR(ValidateId(request.workflow_id, "workflow_id"));
  RETURN_IF_ERROR(ValidateId(request.request_id, "request_id"));
  if (request.execution_timeout && *request.execution_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("execution_timeout must be positive, got ",
                     absl::FormatDuration(*request.execution_timeout)));
  }
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  if (request.workflow_id.empty()) {
    // A retried start with a generated workflow_id is recognized by its request_id alone.
    if (!request.request_id.empty()) {
      ASSIGN_OR_RETURN(PgResult earlier,
                       conn->Query("SELECT workflow_id, run_id FROM vecsync.executions "
                                   "WHERE request_id = $1 LIMIT 1",
                                   request.request_id));
      if (earlier.rows() == 1) {
        return StartWorkflowResult{earlier.GetString(0, 0), earlier.GetString(0, 1), false};
      }
    }
    request.workflow_id = NewUuid();
  }
  if (request.request_id.empty()) request.request_id = NewUuid();

  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  // Serializes starts of one workflow_id; the partial unique index is the backstop.
  RETURN_IF_ERROR(
      conn->Query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7955))", request.workflow_id)
          .status());
  ASSIGN_OR_RETURN(PgResult same_request, conn->Query("SELECT run_id FROM vecsync.executions "
                                                      "WHERE workflow_id = $1 AND request_id = $2",
                                                      request.workflow_id, request.request_id));
  if (same_request.rows() == 1) {
    return StartWorkflowResult{request.workflow_id, same_request.GetString(0, 0), false};
  }
  ASSIGN_OR_RETURN(PgResult latest,
                   conn->Query("SELECT run_id, status FROM vecsync.executions "
                               "WHERE workflow_id = $1 ORDER BY start_time DESC LIMIT 1",
                               request.workflow_id));
  if (latest.rows() == 1) {
    const std::string run_id = latest.GetString(0, 0);
    const std::string status = latest.GetString(0, 1);
    if (status == "RUNNING") {
      switch (request.conflict_policy) {
        case ConflictPolicy::kFail:
          return absl::AlreadyExistsError(absl::StrCat("workflow '", request.workflow_id,
                                                       "' is already running (run ", run_id, ")"));
        case ConflictPolicy::kUseExisting:
          return StartWorkflowResult{request.workflow_id, run_id, false};
        case ConflictPolicy::kTerminateExisting: {
          const Json failure = FailureToJson(ApplicationError(
              "TERMINATED", "terminated by a new start with conflict policy TERMINATE_EXISTING",
              true, absl::StatusCode::kAborted));
          RETURN_IF_ERROR(
              CloseRunOn(*conn, run_id, std::nullopt, WorkflowStatus::kTerminated, Json(), failure)
                  .status());
          break;
        }
      }
    } else if (request.reuse_policy == ReusePolicy::kRejectDuplicate) {
      return absl::AlreadyExistsError(absl::StrCat("workflow '", request.workflow_id,
                                                   "' already ran (", status,
                                                   ") and the reuse policy is REJECT_DUPLICATE"));
    } else if (request.reuse_policy == ReusePolicy::kAllowDuplicateFailedOnly &&
               status == "COMPLETED") {
      return absl::AlreadyExistsError(
          absl::StrCat("workflow '", request.workflow_id,
                       "' already completed and the reuse policy is ALLOW_DUPLICATE_FAILED_ONLY"));
    }
  }
  const std::optional<std::string> timeout_ms =
      request.execution_timeout ? std::optional<std::string>(std::to_string(
                                      absl::ToInt64Milliseconds(*request.execution_timeout)))
                                : std::nullopt;
  ASSIGN_OR_RETURN(
      PgResult inserted,
      conn->Query("WITH run AS ("
                  "  INSERT INTO vecsync.executions (run_id, workflow_id, workflow_type, "
                  "    request_id, status, input, execution_deadline) "
                  "  VALUES (gen_random_uuid(), $1, $2, $3, 'RUNNING', $4::jsonb, "
                  "    now() + $5::bigint * interval '1 millisecond') "
                  "  RETURNING run_id), "
                  "h AS (INSERT INTO vecsync.history (run_id, event_type, attributes) "
                  "  SELECT run_id, 'WorkflowExecutionStarted', jsonb_build_object("
                  "    'workflow_type', $2::text, 'input', $4::jsonb, 'request_id', $3::text, "
                  "    'execution_timeout_ms', $5::bigint) FROM run) "
                  "SELECT run_id, pg_notify('vecsync_workflow', '') FROM run",
                  request.workflow_id, request.workflow_type, request.request_id,
                  request.input.dump(), timeout_ms));
  RETURN_IF_ERROR(txn.Commit());
  static metrics::Counter& started = metrics::Counter::Get(
      "vecsync_workflows_started_total", "Workflow runs this process started", {"workflow_type"});
  started.Add({request.workflow_type});
  return StartWorkflowResult{request.workflow_id, inserted.GetString(0, 0), true};
}

absl::StatusOr<std::string> Client::ResolveRun(PgConnection& conn, const RunRef& ref) {
  RETURN_IF_ERROR(ValidateRef(ref));
  ASSIGN_OR_RETURN(PgResult r, ref.run_id.empty()
                                   ? conn.Query("SELECT run_id FROM vecsync.executions "
                                                "WHERE workflow_id = $1 "
                                                "ORDER BY start_time DESC LIMIT 1",
                                                ref.workflow_id)
                                   : conn.Query("SELECT run_id FROM vecsync.executions "
                                                "WHERE workflow_id = $1 AND run_id = $2::uuid",
                                                ref.workflow_id, ref.run_id));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        ref.run_id.empty()
            ? absl::StrCat("workflow '", ref.workflow_id, "' not found")
            : absl::StrCat("run ", ref.run_id, " of workflow '", ref.workflow_id, "' not found"));
  }
  return r.GetString(0, 0);
}

absl::Status Client::RequestCancel(const RunRef& ref, const std::string& reason) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(std::string run_id, ResolveRun(*conn, ref));
  ASSIGN_OR_RETURN(PgResult r,
                   conn->Query("WITH run AS (SELECT run_id, status, cancel_requested "
                               "  FROM vecsync.executions WHERE run_id = $1 FOR UPDATE), "
                               "u AS (UPDATE vecsync.executions e SET cancel_requested = true, "
                               "    updated_at = now() "
                               "  FROM run WHERE e.run_id = run.run_id AND run.status = 'RUNNING' "
                               "    AND NOT run.cancel_requested RETURNING e.run_id), "
                               "h AS (INSERT INTO vecsync.history (run_id, event_type, attributes) "
                               "  SELECT run_id, 'WorkflowExecutionCancelRequested', "
                               "    jsonb_build_object('reason', $2::text) FROM u), "
                               "n AS (SELECT pg_notify('vecsync_run', run_id::text) FROM u) "
                               "SELECT run.status, (SELECT count(*) FROM n) FROM run",
                               run_id, reason));
  if (r.GetString(0, 0) != "RUNNING") {
    return absl::FailedPreconditionError(absl::StrCat("workflow '", ref.workflow_id, "' run ",
                                                      run_id, " is already ", r.GetString(0, 0)));
  }
  return absl::OkStatus();
}

absl::Status Client::Terminate(const RunRef& ref, const std::string& reason) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(std::string run_id, ResolveRun(*conn, ref));
  const Json failure = FailureToJson(ApplicationError(
      "TERMINATED", reason.empty() ? "terminated" : reason, true, absl::StatusCode::kAborted));
  ASSIGN_OR_RETURN(bool closed, CloseRunOn(*conn, run_id, std::nullopt, WorkflowStatus::kTerminated,
                                           Json(), failure));
  if (!closed) {
    ASSIGN_OR_RETURN(ExecutionInfo e, ReadExecution(*conn, run_id));
    return absl::FailedPreconditionError(absl::StrCat("workflow '", ref.workflow_id, "' run ",
                                                      run_id, " is already ",
                                                      WorkflowStatusName(e.status)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecutionInfo> Client::ReadExecution(PgConnection& conn, const std::string& run_id) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query(absl::StrCat("SELECT ", kExecutionColumns,
                                                       " FROM vecsync.executions "
                                                       "WHERE run_id = $1"),
                                          run_id));
  if (r.rows() == 0) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  return ReadExecutionRow(r, 0);
}

absl::StatusOr<ExecutionInfo> Client::Describe(const RunRef& ref) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(std::string run_id, ResolveRun(*conn, ref));
  ASSIGN_OR_RETURN(ExecutionInfo e, ReadExecution(*conn, run_id));
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(absl::StrCat("SELECT seq, name, status, attempt, failure, heartbeat_details, ",
                               EpochMicros("visible_at"), ", ", EpochMicros("started_at"),
                               " FROM vecsync.steps WHERE run_id = $1 AND kind = 'activity' "
                               "AND status IN ('SCHEDULED', 'STARTED') ORDER BY seq LIMIT 100"),
                  run_id));
  for (int i = 0; i < r.rows(); ++i) {
    PendingActivity p;
    p.seq = r.GetInt64(i, 0);
    p.activity_type = r.GetString(i, 1);
    p.state = r.GetString(i, 2);
    p.attempt = static_cast<int>(r.GetInt64(i, 3));
    p.last_failure = r.GetJson(i, 4);
    p.heartbeat_details = r.GetJson(i, 5);
    if (p.state == "SCHEDULED" && !r.IsNull(i, 6)) {
      p.next_attempt_time = absl::FromUnixMicros(r.GetInt64(i, 6));
    }
    if (!r.IsNull(i, 7)) p.last_started_time = absl::FromUnixMicros(r.GetInt64(i, 7));
    e.pending_activities.push_back(std::move(p));
  }
  return e;
}

absl::StatusOr<ListWorkflowsResponse> Client::List(const ListWorkflowsRequest& request) {
  RETURN_IF_ERROR(ValidatePageSize(request.page_size));
  // The page token is the (start_time, run_id) of the last row of the previous page.
  std::optional<std::string> after_us, after_run;
  if (!request.page_token.empty()) {
    std::vector<std::string> parts = absl::StrSplit(request.page_token, '/');
    int64_t us = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &us) || parts[1].size() != 36) {
      return absl::InvalidArgumentError("page_token is not one this server returned");
    }
    after_us = parts[0];
    after_run = parts[1];
  }
  std::vector<std::string> statuses;
  for (WorkflowStatus s : request.statuses) statuses.emplace_back(WorkflowStatusName(s));
  auto micros = [](const std::optional<absl::Time>& t) -> std::optional<std::string> {
    if (!t) return std::nullopt;
    return std::to_string(absl::ToUnixMicros(*t));
  };
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(
      PgResult r,
      conn->Query(
          absl::StrCat(
              "SELECT ", kExecutionColumns,
              " FROM vecsync.executions "
              "WHERE ($1::text IS NULL OR workflow_type = $1) "
              "  AND ($2::text[] IS NULL OR status = ANY($2::text[])) "
              "  AND ($3::bigint IS NULL OR start_time >= to_timestamp($3::bigint / 1000000.0)) "
              "  AND ($4::bigint IS NULL OR start_time < to_timestamp($4::bigint / 1000000.0)) "
              "  AND ($5::bigint IS NULL OR (start_time, run_id) < "
              "       (to_timestamp($5::bigint / 1000000.0), $6::uuid)) "
              "ORDER BY start_time DESC, run_id DESC LIMIT $7"),
          request.workflow_type.empty() ? std::nullopt
                                        : std::optional<std::string>(request.workflow_type),
          statuses.empty() ? std::nullopt : std::optional<std::string>(PgArrayLiteral(statuses)),
          micros(request.started_after), micros(request.started_before), after_us, after_run,
          request.page_size + 1));
  ListWorkflowsResponse response;
  const int n = std::min(r.rows(), request.page_size);
  for (int i = 0; i < n; ++i) response.executions.push_back(ReadExecutionRow(r, i));
  if (r.rows() > request.page_size) {
    const ExecutionInfo& last = response.executions.back();
    response.next_page_token = absl::StrCat(absl::ToUnixMicros(last.start_time), "/", last.run_id);
  }
  return response;
}

absl::StatusOr<HistoryPage> Client::GetHistory(const RunRef& ref, int page_size,
                                               const std::string& page_token) {
  RETURN_IF_ERROR(ValidatePageSize(page_size));
  int64_t after = 0;
  if (!page_token.empty() && !absl::SimpleAtoi(page_token, &after)) {
    return absl::InvalidArgumentError("page_token is not one this server returned");
  }
  ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  ASSIGN_OR_RETURN(std::string run_id, ResolveRun(*conn, ref));
  ASSIGN_OR_RETURN(PgResult r, conn->Query(absl::StrCat("SELECT event_id, event_type, ",
                                                        EpochMicros("event_time"),
                                                        ", attributes FROM vecsync.history "
                                                        "WHERE run_id = $1 AND event_id > $2 "
                                                        "ORDER BY event_id LIMIT $3"),
                                           run_id, after, page_size + 1));
  HistoryPage page;
  const int n = std::min(r.rows(), page_size);
  for (int i = 0; i < n; ++i) {
    page.events.push_back({r.GetInt64(i, 0), r.GetString(i, 1),
                           absl::FromUnixMicros(r.GetInt64(i, 2)), r.GetJson(i, 3)});
  }
  if (r.rows() > page_size) page.next_page_token = std::to_string(page.events.back().event_id);
  return page;
}

absl::StatusOr<ExecutionInfo> Client::WaitForClose(const RunRef& ref, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(20);
  while (true) {
    ASSIGN_OR_RETURN(ExecutionInfo e, Describe(ref));
    if (e.status != WorkflowStatus::kRunning) return e;
    if (absl::Now() + pause > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "workflow '", ref.workflow_id, "' still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(500));
  }
}

absl::StatusOr<std::set<std::string>> RunningRuns(PgConnection& conn,
                                                  const std::vector<std::string>& run_ids) {
  std::set<std::string> running;
  if (run_ids.empty()) return running;
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT run_id::text FROM vecsync.executions "
                                          "WHERE run_id = ANY($1::uuid[]) AND status = 'RUNNING'",
                                          PgArrayLiteral(run_ids)));
  for (int i = 0; i < r.rows(); ++i) running.insert(r.GetString(i, 0));
  return running;
}

}  // namespace vecsync::engine
