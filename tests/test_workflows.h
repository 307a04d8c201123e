// Workflows and activities that exercise the engine in tests, the crash-test worker process
// and the engine benchmark. Activities log each attempt to the table public.activity_log of the
// database they are given, so tests can count what really ran. Workflows, with their input:
//
//   sequence {count, sleep_ms}: `count` record activities in turn.
//   fanout {count, wave}: `count` noop activities, `wave` at a time.
//   flaky {fail_times, error_type, initial_ms, max_attempts, non_retryable}: one activity
//     failing its first `fail_times` attempts.
//   resume {total, fail_at}: heartbeat-resumed counting.
//   wait_cancel {}: an activity that heartbeats until told to stop.
//   sleeper {ms}: a durable timer.
//   checkpointed {count, every}: `count` activities, a checkpoint every `every`.
//   slow {sleep_ms, timeout_ms, max_attempts}: an activity that outlives its timeout.
//   race, relay, handover, versioned: see test_workflows.cc.
#ifndef VECSYNC_TESTS_TEST_WORKFLOWS_H_
#define VECSYNC_TESTS_TEST_WORKFLOWS_H_

#include <string>

#include "absl/status/status.h"
#include "src/engine/registry.h"

namespace vecsync::testing {

// Registers every test workflow and activity. `pg_url` is where activities log attempts.
absl::Status RegisterTestWorkflows(engine::Registry* registry, const std::string& pg_url);

// Switches the "versioned" workflow to its code after "a-change" (see test_workflows.cc).
void SetVersionedWorkflowChanged(bool changed);

// Creates (or empties) public.activity_log in the database at `pg_url`.
absl::Status ResetActivityLog(const std::string& pg_url);

}  // namespace vecsync::testing

#endif  // VECSYNC_TESTS_TEST_WORKFLOWS_H_
