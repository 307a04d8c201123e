#include "src/engine/types.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace vecsync::engine {
namespace {

// Normalizes "allow-duplicate", "ALLOW_DUPLICATE", "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE".
std::string Normalize(absl::string_view name, absl::string_view prefix) {
  std::string s = absl::AsciiStrToUpper(name);
  for (char& c : s) {
    if (c == '-') c = '_';
  }
  if (absl::string_view(s).substr(0, prefix.size()) == prefix) s = s.substr(prefix.size());
  return s;
}

}  // namespace

absl::string_view WorkflowStatusName(WorkflowStatus status) {
  switch (status) {
    case WorkflowStatus::kRunning:
      return "RUNNING";
    case WorkflowStatus::kCompleted:
      return "COMPLETED";
    case WorkflowStatus::kFailed:
      return "FAILED";
    case WorkflowStatus::kCanceled:
      return "CANCELED";
    case WorkflowStatus::kTerminated:
      return "TERMINATED";
    case WorkflowStatus::kTimedOut:
      return "TIMED_OUT";
  }
  return "RUNNING";
}

absl::StatusOr<WorkflowStatus> ParseWorkflowStatus(absl::string_view name) {
  const std::string s = Normalize(name, "WORKFLOW_STATUS_");
  for (WorkflowStatus status :
       {WorkflowStatus::kRunning, WorkflowStatus::kCompleted, WorkflowStatus::kFailed,
        WorkflowStatus::kCanceled, WorkflowStatus::kTerminated, WorkflowStatus::kTimedOut}) {
    if (s == WorkflowStatusName(status)) return status;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown workflow status '", name,
                   "': expected RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED or TIMED_OUT"));
}

absl::StatusOr<ReusePolicy> ParseReusePolicy(absl::string_view name) {
  const std::string s = Normalize(name, "WORKFLOW_ID_REUSE_POLICY_");
  if (s.empty() || s == "ALLOW_DUPLICATE") return ReusePolicy::kAllowDuplicate;
  if (s == "ALLOW_DUPLICATE_FAILED_ONLY") return ReusePolicy::kAllowDuplicateFailedOnly;
  if (s == "REJECT_DUPLICATE") return ReusePolicy::kRejectDuplicate;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown reuse policy '", name,
                   "': expected ALLOW_DUPLICATE, ALLOW_DUPLICATE_FAILED_ONLY or REJECT_DUPLICATE"));
}

absl::StatusOr<ConflictPolicy> ParseConflictPolicy(absl::string_view name) {
  const std::string s = Normalize(name, "WORKFLOW_ID_CONFLICT_POLICY_");
  if (s.empty() || s == "FAIL") return ConflictPolicy::kFail;
  if (s == "USE_EXISTING") return ConflictPolicy::kUseExisting;
  if (s == "TERMINATE_EXISTING") return ConflictPolicy::kTerminateExisting;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown conflict policy '", name, "': expected FAIL, USE_EXISTING or TERMINATE_EXISTING"));
}

}  // namespace vecsync::engine
