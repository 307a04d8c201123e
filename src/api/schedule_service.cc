#include "src/api/schedule_service.h"

#include "absl/strings/str_cat.h"
#include "src/api/grpc_status.h"
#include "src/api/proto_convert.h"

namespace vecsync::api {

absl::StatusOr<engine::OverlapPolicy> FromProtoOverlap(int policy,
                                                       engine::OverlapPolicy unspecified) {
  switch (policy) {
    case v1::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED:
      return unspecified;
    case v1::SCHEDULE_OVERLAP_POLICY_SKIP:
      return engine::OverlapPolicy::kSkip;
    case v1::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE:
      return engine::OverlapPolicy::kBufferOne;
    case v1::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER:
      return engine::OverlapPolicy::kCancelOther;
    case v1::SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER:
      return engine::OverlapPolicy::kTerminateOther;
    case v1::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL:
      return engine::OverlapPolicy::kAllowAll;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("overlap_policy: ", policy, " is not an overlap policy"));
  }
}

v1::ScheduleOverlapPolicy ToProtoOverlap(engine::OverlapPolicy policy) {
  switch (policy) {
    case engine::OverlapPolicy::kSkip:
      return v1::SCHEDULE_OVERLAP_POLICY_SKIP;
    case engine::OverlapPolicy::kBufferOne:
      return v1::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE;
    case engine::OverlapPolicy::kCancelOther:
      return v1::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER;
    case engine::OverlapPolicy::kTerminateOther:
      return v1::SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER;
    case engine::OverlapPolicy::kAllowAll:
      return v1::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL;
  }
  return v1::SCHEDULE_OVERLAP_POLICY_SKIP;
}

absl::StatusOr<engine::ScheduleDefinition> FromProto(const std::string& schedule_id,
                                                     const v1::Schedule& schedule) {
  engine::ScheduleDefinition d;
  d.schedule_id = schedule_id;
  d.cron = schedule.spec().cron_string();
  if (!schedule.spec().time_zone().empty()) d.time_zone = schedule.spec().time_zone();
  if (schedule.spec().has_jitter()) d.jitter = FromProtoDuration(schedule.spec().jitter());
  d.workflow_type = schedule.action().workflow_type();
  absl::StatusOr<Json> input = ParseInputJson(schedule.action().input_json(), "input_json");
  if (!input.ok()) return input.status();
  d.input = std::move(*input);
  if (schedule.action().has_execution_timeout()) {
    d.execution_timeout = FromProtoDuration(schedule.action().execution_timeout());
  }
  absl::StatusOr<engine::OverlapPolicy> overlap =
      FromProtoOverlap(schedule.policies().overlap_policy(), engine::OverlapPolicy::kSkip);
  if (!overlap.ok()) return overlap.status();
  d.overlap_policy = *overlap;
  if (schedule.policies().has_catchup_window()) {
    d.catchup_window = FromProtoDuration(schedule.policies().catchup_window());
  }
  d.paused = schedule.state().paused();
  d.notes = schedule.state().notes();
  return d;
}

void ToProto(const engine::ScheduleDefinition& d, v1::Schedule* out) {
  out->mutable_spec()->set_cron_string(d.cron);
  out->mutable_spec()->set_time_zone(d.time_zone);
  if (d.jitter > absl::ZeroDuration())
    ToProtoDuration(d.jitter, out->mutable_spec()->mutable_jitter());
  out->mutable_action()->set_workflow_type(d.workflow_type);
  out->mutable_action()->set_input_json(d.input.dump());
  if (d.execution_timeout) {
    ToProtoDuration(*d.execution_timeout, out->mutable_action()->mutable_execution_timeout());
  }
  out->mutable_policies()->set_overlap_policy(ToProtoOverlap(d.overlap_policy));
  ToProtoDuration(d.catchup_window, out->mutable_policies()->mutable_catchup_window());
  out->mutable_state()->set_paused(d.paused);
  out->mutable_state()->set_notes(d.notes);
}

void ToProto(const engine::ScheduleDescription& d, v1::ScheduleInfo* out) {
  out->set_action_count(d.action_count);
  out->set_missed_catchup_window(d.missed_catchup_window);
  out->set_overlap_skipped(d.overlap_skipped);
  for (const engine::RunRef& run : d.running_workflows) {
    v1::RunningWorkflow* r = out->add_running_workflows();
    r->set_workflow_id(run.workflow_id);
    r->set_run_id(run.run_id);
  }
  for (const engine::ScheduleActionResult& a : d.recent_actions) {
    v1::ScheduleActionResult* r = out->add_recent_actions();
    ToProtoTime(a.schedule_time, r->mutable_schedule_time());
    ToProtoTime(a.actual_time, r->mutable_actual_time());
    r->set_workflow_id(a.workflow_id);
    r->set_run_id(a.run_id);
    r->set_manual(a.manual);
    r->set_error(a.error);
  }
  for (absl::Time t : d.future_action_times) ToProtoTime(t, out->add_future_action_times());
  if (d.buffered_action_time) {
    ToProtoTime(*d.buffered_action_time, out->mutable_buffered_action_time());
  }
  ToProtoTime(d.create_time, out->mutable_create_time());
  ToProtoTime(d.update_time, out->mutable_update_time());
}

ScheduleService::ScheduleService(engine::Schedules* schedules, const BearerAuth* auth)
    : schedules_(schedules), auth_(auth) {}

grpc::Status ScheduleService::CreateSchedule(grpc::ServerContext* context,
                                             const v1::CreateScheduleRequest* request,
                                             v1::CreateScheduleResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (!request->has_schedule()) {
    return ToGrpcStatus(absl::InvalidArgumentError("schedule is required"));
  }
  absl::StatusOr<engine::ScheduleDefinition> d =
      FromProto(request->schedule_id(), request->schedule());
  if (!d.ok()) return ToGrpcStatus(d.status());
  if (absl::Status s = schedules_->Create(*d); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::ScheduleDescription> created = schedules_->Describe(d->schedule_id);
  if (created.ok()) response->set_conflict_token(created->conflict_token);
  return grpc::Status::OK;
}

grpc::Status ScheduleService::DescribeSchedule(grpc::ServerContext* context,
                                               const v1::DescribeScheduleRequest* request,
                                               v1::DescribeScheduleResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::ScheduleDescription> d = schedules_->Describe(request->schedule_id());
  if (!d.ok()) return ToGrpcStatus(d.status());
  ToProto(d->definition, response->mutable_schedule());
  ToProto(*d, response->mutable_info());
  response->set_conflict_token(d->conflict_token);
  return grpc::Status::OK;
}

grpc::Status ScheduleService::ListSchedules(grpc::ServerContext* context,
                                            const v1::ListSchedulesRequest* request,
                                            v1::ListSchedulesResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::ScheduleListPage> page =
      schedules_->List(PageSizeOrDefault(request->page_size()), request->next_page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const engine::ScheduleDescription& d : page->schedules) {
    v1::ScheduleListEntry* entry = response->add_schedules();
    entry->set_schedule_id(d.definition.schedule_id);
    ToProto(d.definition, entry->mutable_schedule());
    ToProto(d, entry->mutable_info());
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status ScheduleService::UpdateSchedule(grpc::ServerContext* context,
                                             const v1::UpdateScheduleRequest* request,
                                             v1::UpdateScheduleResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (!request->has_schedule()) {
    return ToGrpcStatus(absl::InvalidArgumentError("schedule is required"));
  }
  absl::StatusOr<engine::ScheduleDefinition> d =
      FromProto(request->schedule_id(), request->schedule());
  if (!d.ok()) return ToGrpcStatus(d.status());
  std::optional<int64_t> token;
  if (request->conflict_token() != 0) token = request->conflict_token();
  return ToGrpcStatus(schedules_->Update(*d, token));
}

grpc::Status ScheduleService::DeleteSchedule(grpc::ServerContext* context,
                                             const v1::DeleteScheduleRequest* request,
                                             v1::DeleteScheduleResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(schedules_->Delete(request->schedule_id()));
}

grpc::Status ScheduleService::PauseSchedule(grpc::ServerContext* context,
                                            const v1::PauseScheduleRequest* request,
                                            v1::PauseScheduleResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(schedules_->Pause(request->schedule_id(), request->note()));
}

grpc::Status ScheduleService::UnpauseSchedule(grpc::ServerContext* context,
                                              const v1::UnpauseScheduleRequest* request,
                                              v1::UnpauseScheduleResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(schedules_->Unpause(request->schedule_id(), request->note()));
}

grpc::Status ScheduleService::TriggerSchedule(grpc::ServerContext* context,
                                              const v1::TriggerScheduleRequest* request,
                                              v1::TriggerScheduleResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  std::optional<engine::OverlapPolicy> overlap;
  if (request->overlap_policy() != v1::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED) {
    absl::StatusOr<engine::OverlapPolicy> parsed =
        FromProtoOverlap(request->overlap_policy(), engine::OverlapPolicy::kSkip);
    if (!parsed.ok()) return ToGrpcStatus(parsed.status());
    overlap = *parsed;
  }
  absl::StatusOr<engine::TriggerResult> r = schedules_->Trigger(request->schedule_id(), overlap);
  if (!r.ok()) return ToGrpcStatus(r.status());
  response->set_started(r->started);
  response->set_workflow_id(r->workflow_id);
  response->set_run_id(r->run_id);
  response->set_outcome(r->outcome);
  return grpc::Status::OK;
}

}  // namespace vecsync::api
