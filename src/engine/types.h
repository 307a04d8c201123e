// The engine's vocabulary: workflow statuses, start policies, and the records that start,
// describe, list and history calls exchange. Plain value types; thread-compatible.
#ifndef VECSYNC_ENGINE_TYPES_H_
#define VECSYNC_ENGINE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync::engine {

// Temporal's numbering (CONTINUED_AS_NEW = 6 is not used by vecsync).
enum class WorkflowStatus {
  kRunning = 1,
  kCompleted = 2,
  kFailed = 3,
  kCanceled = 4,
  kTerminated = 5,
  kTimedOut = 7,
};

// "RUNNING", "COMPLETED", … as stored in the database.
absl::string_view WorkflowStatusName(WorkflowStatus status);
// Parses a status name (case-insensitive). INVALID_ARGUMENT listing the valid names otherwise.
absl::StatusOr<WorkflowStatus> ParseWorkflowStatus(absl::string_view name);

// What a start does when the workflow_id has closed runs.
enum class ReusePolicy {
  kAllowDuplicate,            // Default: always start a new run.
  kAllowDuplicateFailedOnly,  // Only when the latest run did not complete successfully.
  kRejectDuplicate,           // Never reuse the id.
};

// What a start does when the workflow_id has a running run.
enum class ConflictPolicy {
  kFail,               // Default: ALREADY_EXISTS.
  kUseExisting,        // Return the running run with started = false.
  kTerminateExisting,  // Terminate it and start a new run.
};

absl::StatusOr<ReusePolicy> ParseReusePolicy(absl::string_view name);
absl::StatusOr<ConflictPolicy> ParseConflictPolicy(absl::string_view name);

struct StartWorkflowRequest {
  std::string workflow_type;
  // Generated (a UUID) when empty.
  std::string workflow_id;
  // De-duplicates retried starts of the same workflow_id; generated when empty.
  std::string request_id;
  Json input = Json::object();
  ReusePolicy reuse_policy = ReusePolicy::kAllowDuplicate;
  ConflictPolicy conflict_policy = ConflictPolicy::kFail;
  // The run times out (TIMED_OUT) this long after it starts; none when unset.
  std::optional<absl::Duration> execution_timeout;
};

struct StartWorkflowResult {
  std::string workflow_id;
  std::string run_id;
  // False when an existing run was returned (same request_id, or USE_EXISTING).
  bool started = false;
};

// An activity of a running workflow that has not closed yet.
struct PendingActivity {
  int64_t seq = 0;
  std::string activity_type;
  std::string state;  // "SCHEDULED" (waiting, maybe for a retry) or "STARTED".
  int attempt = 0;    // Attempts started so far.
  Json last_failure;  // null when no attempt failed.
  Json heartbeat_details;
  std::optional<absl::Time> next_attempt_time;
  std::optional<absl::Time> last_started_time;
};

struct ExecutionInfo {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  WorkflowStatus status = WorkflowStatus::kRunning;
  Json input;
  Json result;    // null unless COMPLETED.
  Json failure;   // null unless FAILED, CANCELED, TERMINATED or TIMED_OUT.
  Json progress;  // The workflow-defined progress document; null until the workflow sets one.
  bool cancel_requested = false;
  absl::Time start_time;
  std::optional<absl::Time> close_time;
  std::optional<absl::Time> execution_deadline;
  std::vector<PendingActivity> pending_activities;  // Filled by Describe only.
};

struct ListWorkflowsRequest {
  std::string workflow_type;                 // Any when empty.
  std::vector<WorkflowStatus> statuses;      // Any when empty.
  std::optional<absl::Time> started_after;   // Inclusive.
  std::optional<absl::Time> started_before;  // Exclusive.
  int page_size = 100;                       // 1..1000.
  std::string page_token;                    // From the previous page; empty for the first.
};

struct ListWorkflowsResponse {
  std::vector<ExecutionInfo> executions;  // Newest first.
  std::string next_page_token;            // Empty on the last page.
};

struct HistoryEvent {
  int64_t event_id = 0;  // Increasing within a run (not dense).
  std::string event_type;
  absl::Time event_time;
  Json attributes;
};

struct HistoryPage {
  std::vector<HistoryEvent> events;
  std::string next_page_token;
};

// Identifies a run: the given run_id, or the latest run of workflow_id when run_id is empty.
struct RunRef {
  std::string workflow_id;
  std::string run_id;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_TYPES_H_
