#include "tests/test_workflows.h"

#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "src/common/pg_pool.h"
#include "src/common/status_macros.h"
#include "src/engine/errors.h"

namespace vecsync::testing {
namespace {

using engine::ActivityContext;
using engine::ActivityHandle;
using engine::ActivityOptions;
using engine::WorkflowContext;

PgPool* g_log_pool = nullptr;

absl::Status LogAttempt(const ActivityContext& ctx, const std::string& note) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, g_log_pool->Acquire());
  return conn
      ->Query(
          "INSERT INTO public.activity_log (workflow_id, run_id, seq, attempt, pid, note) "
          "VALUES ($1, $2, $3, $4, $5, $6)",
          ctx.info().workflow_id, ctx.info().run_id, ctx.info().seq, ctx.info().attempt,
          static_cast<int64_t>(getpid()), note)
      .status();
}

ActivityOptions Options(absl::Duration start_to_close = absl::Seconds(30)) {
  ActivityOptions o;
  o.start_to_close_timeout = start_to_close;
  o.retry_policy.initial_interval = absl::Milliseconds(100);
  return o;
}

absl::StatusOr<Json> Sequence(WorkflowContext& ctx, const Json& input) {
  const int count = input.value("count", 3);
  int64_t sum = 0;
  for (int i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(
        Json r, ctx.ExecuteActivity(
                    "record", {{"value", i}, {"sleep_ms", input.value("sleep_ms", 0)}}, Options()));
    sum += r["value"].get<int64_t>();
    RETURN_IF_ERROR(ctx.SetProgress({{"done", i + 1}, {"of", count}}));
  }
  return Json{{"sum", sum}};
}

absl::StatusOr<Json> Fanout(WorkflowContext& ctx, const Json& input) {
  const int count = input.value("count", 10);
  const int wave = input.value("wave", 100);
  int done = 0;
  while (done < count) {
    std::vector<ActivityHandle> handles;
    for (int i = 0; i < wave && done + i < count; ++i) {
      ASSIGN_OR_RETURN(ActivityHandle h, ctx.StartActivity("noop", Json::object(), Options()));
      handles.push_back(h);
    }
    for (const ActivityHandle& h : handles) RETURN_IF_ERROR(ctx.Await(h).status());
    done += static_cast<int>(handles.size());
    if (input.value("checkpoint", false)) RETURN_IF_ERROR(ctx.Checkpoint({{"done", done}}));
  }
  return Json{{"activities", done}};
}

absl::StatusOr<Json> Flaky(WorkflowContext& ctx, const Json& input) {
  ActivityOptions o = Options();
  o.retry_policy.initial_interval = absl::Milliseconds(input.value("initial_ms", 100));
  o.retry_policy.maximum_attempts = input.value("max_attempts", 0);
  o.retry_policy.non_retryable_error_types =
      input.value("non_retryable", std::vector<std::string>{});
  return ctx.ExecuteActivity("flaky", input, o);
}

absl::StatusOr<Json> Resume(WorkflowContext& ctx, const Json& input) {
  return ctx.ExecuteActivity("count_with_heartbeat", input, Options());
}

absl::StatusOr<Json> WaitCancel(WorkflowContext& ctx, const Json& input) {
  ActivityOptions o = Options(absl::Minutes(5));
  o.heartbeat_timeout = absl::Seconds(10);
  return ctx.ExecuteActivity("wait_for_cancel", input, o);
}

absl::StatusOr<Json> Sleeper(WorkflowContext& ctx, const Json& input) {
  ASSIGN_OR_RETURN(absl::Time start, ctx.Now());
  RETURN_IF_ERROR(ctx.Sleep(absl::Milliseconds(input.value("ms", 100))));
  return Json{{"started_us", absl::ToUnixMicros(start)},
              {"woke_us", absl::ToUnixMicros(absl::Now())}};
}

absl::StatusOr<Json> Checkpointed(WorkflowContext& ctx, const Json& input) {
  const int count = input.value("count", 100);
  const int every = input.value("every", 10);
  Json state = ctx.checkpoint().is_null() ? Json{{"done", 0}, {"sum", 0}} : ctx.checkpoint();
  while (state["done"].get<int>() < count) {
    const int i = state["done"].get<int>();
    ASSIGN_OR_RETURN(Json r, ctx.ExecuteActivity("echo", {{"value", i}}, Options()));
    state["done"] = i + 1;
    state["sum"] = state["sum"].get<int64_t>() + r["value"].get<int64_t>();
    if ((i + 1) % every == 0) RETURN_IF_ERROR(ctx.Checkpoint(state));
  }
  return state;
}

absl::StatusOr<Json> Slow(WorkflowContext& ctx, const Json& input) {
  ActivityOptions o = Options(absl::Milliseconds(input.value("timeout_ms", 200)));
  o.retry_policy.maximum_attempts = input.value("max_attempts", 2);
  o.retry_policy.initial_interval = absl::Milliseconds(50);
  return ctx.ExecuteActivity("sleep", input, o);
}

absl::StatusOr<Json> Race(WorkflowContext& ctx, const Json& input) {
  ASSIGN_OR_RETURN(ActivityHandle slow,
                   ctx.StartActivity("record", {{"value", "slow"}, {"sleep_ms", 400}}, Options()));
  ASSIGN_OR_RETURN(ActivityHandle fast,
                   ctx.StartActivity("record", {{"value", "fast"}, {"sleep_ms", 0}}, Options()));
  const ActivityHandle handles[] = {slow, fast};
  ASSIGN_OR_RETURN(size_t first, ctx.AwaitAny(handles));
  ASSIGN_OR_RETURN(Json winner, ctx.Await(handles[first]));
  RETURN_IF_ERROR(ctx.Await(handles[1 - first]).status());
  RETURN_IF_ERROR(ctx.Sleep(absl::Milliseconds(input.value("pause_ms", 0))));
  return Json{{"winner", winner["value"]}};
}

// Waits for a wave of activities, then goes through them again, already closed, starting a
// successor for each (with progress in between): that takes no wait, so the successors and the
// progress are committed together. With "fail", reports progress and fails right after.
absl::StatusOr<Json> Relay(WorkflowContext& ctx, const Json& input) {
  std::vector<ActivityHandle> first, second;
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(ActivityHandle h, ctx.StartActivity("echo", {{"wave", 1}}, Options()));
    first.push_back(h);
  }
  for (const ActivityHandle& h : first) RETURN_IF_ERROR(ctx.Await(h).status());
  for (int i = 0; i < 3; ++i) {
    RETURN_IF_ERROR(ctx.Await(first[i]).status());
    RETURN_IF_ERROR(ctx.SetProgress({{"relayed", i + 1}}));
    ASSIGN_OR_RETURN(ActivityHandle h, ctx.StartActivity("echo", {{"wave", 2}}, Options()));
    second.push_back(h);
  }
  for (const ActivityHandle& h : second) RETURN_IF_ERROR(ctx.Await(h).status());
  if (input.value("fail", false)) {
    RETURN_IF_ERROR(ctx.SetProgress({{"stage", "failing"}}));
    return absl::FailedPreconditionError("relay told to fail");
  }
  return Json::object();
}

// A quick activity, a pause of wall time (`pause_ms`), then a slow one. A worker that takes the
// run over while the slow one runs replays the quick one, pauses, and in the meantime learns
// that the slow one (handed back, and run again by the new worker) completed: the replay must
// still find it recorded as the command it issues next.
absl::StatusOr<Json> Handover(WorkflowContext& ctx, const Json& input) {
  ASSIGN_OR_RETURN(ActivityHandle quick, ctx.StartActivity("echo", {{"step", 1}}, Options()));
  RETURN_IF_ERROR(ctx.Await(quick).status());
  absl::SleepFor(absl::Milliseconds(input.value("pause_ms", 0)));
  RETURN_IF_ERROR(ctx.Await(quick).status());  // Closed: looks at what was delivered, no wait.
  return ctx.ExecuteActivity("sleep", {{"sleep_ms", input.value("sleep_ms", 0)}}, Options());
}

bool g_versioned_code_changed = false;

// Before "a-change", the workflow ran `noop` after a `sleep`; since, it runs `echo`. Runs that
// passed the change's point before it existed must keep the old path when they replay.
absl::StatusOr<Json> Versioned(WorkflowContext& ctx, const Json& input) {
  int version = WorkflowContext::kDefaultVersion;
  if (g_versioned_code_changed) {
    ASSIGN_OR_RETURN(version, ctx.GetVersion("a-change", 1));
  }
  RETURN_IF_ERROR(
      ctx.ExecuteActivity("sleep", {{"sleep_ms", input.value("sleep_ms", 0)}}, Options()).status());
  const bool changed = version >= 1;
  RETURN_IF_ERROR(
      ctx.ExecuteActivity(changed ? "echo" : "noop", Json::object(), Options()).status());
  return Json{{"path", changed ? "new" : "old"}, {"version", version}};
}

// ---- activities ----

absl::StatusOr<Json> Record(ActivityContext& ctx, const Json& input) {
  RETURN_IF_ERROR(LogAttempt(ctx, "record"));
  absl::SleepFor(absl::Milliseconds(input.value("sleep_ms", 0)));
  return Json{{"value", input.contains("value") ? input["value"] : Json(0)}};
}

absl::StatusOr<Json> Noop(ActivityContext&, const Json&) { return Json::object(); }

absl::StatusOr<Json> Echo(ActivityContext&, const Json& input) { return input; }

absl::StatusOr<Json> FlakyActivity(ActivityContext& ctx, const Json& input) {
  RETURN_IF_ERROR(LogAttempt(ctx, "flaky"));
  if (ctx.info().attempt <= input.value("fail_times", 0)) {
    return engine::ApplicationError(input.value("error_type", "Transient"), "failing on purpose",
                                    false, absl::StatusCode::kUnavailable);
  }
  return Json{{"attempt", ctx.info().attempt}};
}

absl::StatusOr<Json> CountWithHeartbeat(ActivityContext& ctx, const Json& input) {
  const int total = input.value("total", 10);
  const int fail_at = input.value("fail_at", 5);
  const Json& details = ctx.info().heartbeat_details;
  const int start = details.is_object() ? details.value("next", 0) : 0;
  for (int i = start; i < total; ++i) {
    if (ctx.info().attempt == 1 && i == fail_at) {
      return absl::UnavailableError("simulated crash in the middle");
    }
    RETURN_IF_ERROR(ctx.Heartbeat({{"next", i + 1}}));
  }
  return Json{{"resumed_from", start}, {"attempt", ctx.info().attempt}};
}

absl::StatusOr<Json> WaitForCancel(ActivityContext& ctx, const Json&) {
  RETURN_IF_ERROR(LogAttempt(ctx, "started"));
  while (true) {
    absl::Status s = ctx.Heartbeat({{"alive", true}});
    if (!s.ok()) {
      RETURN_IF_ERROR(LogAttempt(ctx, std::string(absl::StatusCodeToString(s.code()))));
      return s;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<Json> SleepActivity(ActivityContext& ctx, const Json& input) {
  RETURN_IF_ERROR(LogAttempt(ctx, "sleep"));
  absl::SleepFor(absl::Milliseconds(input.value("sleep_ms", 1000)));
  return Json::object();
}

}  // namespace

void SetVersionedWorkflowChanged(bool changed) { g_versioned_code_changed = changed; }

absl::Status ResetActivityLog(const std::string& pg_url) {
  ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(pg_url));
  return conn->Execute(
      "CREATE TABLE IF NOT EXISTS public.activity_log (workflow_id text, run_id uuid, "
      "seq bigint, attempt int, pid bigint, note text, at timestamptz DEFAULT clock_timestamp());"
      "TRUNCATE public.activity_log");
}

absl::Status RegisterTestWorkflows(engine::Registry* registry, const std::string& pg_url) {
  if (g_log_pool == nullptr) g_log_pool = new PgPool(pg_url, 4);
  RETURN_IF_ERROR(registry->RegisterWorkflow("sequence", Sequence));
  RETURN_IF_ERROR(registry->RegisterWorkflow("fanout", Fanout));
  RETURN_IF_ERROR(registry->RegisterWorkflow("flaky", Flaky));
  RETURN_IF_ERROR(registry->RegisterWorkflow("resume", Resume));
  RETURN_IF_ERROR(registry->RegisterWorkflow("wait_cancel", WaitCancel));
  RETURN_IF_ERROR(registry->RegisterWorkflow("sleeper", Sleeper));
  RETURN_IF_ERROR(registry->RegisterWorkflow("checkpointed", Checkpointed));
  RETURN_IF_ERROR(registry->RegisterWorkflow("slow", Slow));
  RETURN_IF_ERROR(registry->RegisterWorkflow("race", Race));
  RETURN_IF_ERROR(registry->RegisterWorkflow("relay", Relay));
  RETURN_IF_ERROR(registry->RegisterWorkflow("handover", Handover));
  RETURN_IF_ERROR(registry->RegisterWorkflow("versioned", Versioned));
  RETURN_IF_ERROR(registry->RegisterActivity("record", Record));
  RETURN_IF_ERROR(registry->RegisterActivity("noop", Noop));
  RETURN_IF_ERROR(registry->RegisterActivity("echo", Echo));
  RETURN_IF_ERROR(registry->RegisterActivity("flaky", FlakyActivity));
  RETURN_IF_ERROR(registry->RegisterActivity("count_with_heartbeat", CountWithHeartbeat));
  RETURN_IF_ERROR(registry->RegisterActivity("wait_for_cancel", WaitForCancel));
  RETURN_IF_ERROR(registry->RegisterActivity("sleep", SleepActivity));
  return absl::OkStatus();
}

}  // namespace vecsync::testing
