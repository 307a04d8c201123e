#include "src/api/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "src/common/json.h"

namespace vecsync::api {
namespace {

std::string JsonOrEmpty(const Json& value) { return value.is_null() ? "" : value.dump(); }

}  // namespace

absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::StatusOr<Json> ParseInputJson(const std::string& text, const char* field) {
  if (text.size() > kMaxInputJsonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", text.size(), " bytes; the limit is ", kMaxInputJsonBytes));
  }
  if (text.empty()) return Json::object();
  absl::StatusOr<Json> input = ParseJson(text, field);
  if (!input.ok()) return input.status();
  if (!input->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a JSON object"));
  }
  return input;
}

v1::WorkflowStatus ToProtoStatus(engine::WorkflowStatus status) {
  return static_cast<v1::WorkflowStatus>(static_cast<int>(status));
}

absl::StatusOr<engine::WorkflowStatus> FromProtoStatus(int status, const char* field) {
  switch (status) {
    case v1::WORKFLOW_STATUS_RUNNING:
    case v1::WORKFLOW_STATUS_COMPLETED:
    case v1::WORKFLOW_STATUS_FAILED:
    case v1::WORKFLOW_STATUS_CANCELED:
    case v1::WORKFLOW_STATUS_TERMINATED:
    case v1::WORKFLOW_STATUS_TIMED_OUT:
      return static_cast<engine::WorkflowStatus>(status);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", status, " is not a workflow status"));
  }
}

std::string ProtoStatusName(v1::WorkflowStatus status) {
  auto parsed = FromProtoStatus(status, "status");
  return parsed.ok() ? std::string(engine::WorkflowStatusName(*parsed)) : "UNSPECIFIED";
}

absl::StatusOr<engine::StartWorkflowRequest> FromProto(const v1::StartWorkflowRequest& request) {
  engine::StartWorkflowRequest out;
  out.workflow_type = request.workflow_type();
  out.workflow_id = request.workflow_id();
  out.request_id = request.request_id();
  absl::StatusOr<Json> input = ParseInputJson(request.input_json(), "input_json");
  if (!input.ok()) return input.status();
  out.input = std::move(*input);
  switch (request.reuse_policy()) {
    case v1::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED:
    case v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE:
      out.reuse_policy = engine::ReusePolicy::kAllowDuplicate;
      break;
    case v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY:
      out.reuse_policy = engine::ReusePolicy::kAllowDuplicateFailedOnly;
      break;
    case v1::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE:
      out.reuse_policy = engine::ReusePolicy::kRejectDuplicate;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("reuse_policy: ", request.reuse_policy(), " is not a reuse policy"));
  }
  switch (request.conflict_policy()) {
    case v1::WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED:
    case v1::WORKFLOW_ID_CONFLICT_POLICY_FAIL:
      out.conflict_policy = engine::ConflictPolicy::kFail;
      break;
    case v1::WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING:
      out.conflict_policy = engine::ConflictPolicy::kUseExisting;
      break;
    case v1::WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING:
      out.conflict_policy = engine::ConflictPolicy::kTerminateExisting;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("conflict_policy: ", request.conflict_policy(),
                                                     " is not a conflict policy"));
  }
  if (request.has_execution_timeout()) {
    const absl::Duration timeout = FromProtoDuration(request.execution_timeout());
    if (timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("execution_timeout must be positive");
    }
    out.execution_timeout = timeout;
  }
  return out;
}

absl::StatusOr<engine::ListWorkflowsRequest> FromProto(const v1::ListWorkflowsRequest& request) {
  engine::ListWorkflowsRequest out;
  out.workflow_type = request.workflow_type();
  for (int status : request.statuses()) {
    absl::StatusOr<engine::WorkflowStatus> parsed = FromProtoStatus(status, "statuses");
    if (!parsed.ok()) return parsed.status();
    out.statuses.push_back(*parsed);
  }
  if (request.has_start_time_from()) out.started_after = FromProtoTime(request.start_time_from());
  if (request.has_start_time_to()) out.started_before = FromProtoTime(request.start_time_to());
  if (out.started_after && out.started_before && *out.started_after >= *out.started_before) {
    return absl::InvalidArgumentError("start_time_from must be before start_time_to");
  }
  out.page_size = PageSizeOrDefault(request.page_size());
  out.page_token = request.next_page_token();
  return out;
}

void ToProto(const engine::ExecutionInfo& e, v1::WorkflowExecution* out) {
  out->set_workflow_id(e.workflow_id);
  out->set_run_id(e.run_id);
  out->set_workflow_type(e.workflow_type);
  out->set_status(ToProtoStatus(e.status));
  ToProtoTime(e.start_time, out->mutable_start_time());
  if (e.close_time) ToProtoTime(*e.close_time, out->mutable_close_time());
  if (e.execution_deadline) ToProtoTime(*e.execution_deadline, out->mutable_execution_deadline());
  out->set_input_json(JsonOrEmpty(e.input));
  out->set_result_json(JsonOrEmpty(e.result));
  out->set_failure_json(JsonOrEmpty(e.failure));
  out->set_progress_json(JsonOrEmpty(e.progress));
  out->set_cancel_requested(e.cancel_requested);
  for (const engine::PendingActivity& p : e.pending_activities) {
    v1::PendingActivity* a = out->add_pending_activities();
    a->set_seq(p.seq);
    a->set_activity_type(p.activity_type);
    a->set_state(p.state);
    a->set_attempt(p.attempt);
    a->set_last_failure_json(JsonOrEmpty(p.last_failure));
    a->set_heartbeat_details_json(JsonOrEmpty(p.heartbeat_details));
    if (p.next_attempt_time) ToProtoTime(*p.next_attempt_time, a->mutable_next_attempt_time());
    if (p.last_started_time) ToProtoTime(*p.last_started_time, a->mutable_last_started_time());
  }
}

void ToProto(const engine::HistoryEvent& event, v1::HistoryEvent* out) {
  out->set_event_id(event.event_id);
  out->set_event_type(event.event_type);
  ToProtoTime(event.event_time, out->mutable_event_time());
  out->set_attributes_json(JsonOrEmpty(event.attributes));
}

int PageSizeOrDefault(int page_size) { return page_size == 0 ? kDefaultPageSize : page_size; }

absl::Status ValidateReason(const std::string& reason, const char* field) {
  if (reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", reason.size(), " bytes; the limit is ", kMaxReasonBytes));
  }
  return absl::OkStatus();
}

}  // namespace vecsync::api
