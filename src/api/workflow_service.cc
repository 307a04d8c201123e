#include "src/api/workflow_service.h"

#include "absl/time/clock.h"
#include "src/api/grpc_status.h"
#include "src/api/proto_convert.h"
#include "src/common/log.h"

namespace vecsync::api {
namespace {

// How often a watch re-reads the run without a notification (a missed NOTIFY, a dropped
// listener), and how often at most it re-reads a run that changes all the time.
constexpr absl::Duration kWatchPollInterval = absl::Seconds(1);
constexpr absl::Duration kWatchMinInterval = absl::Milliseconds(100);

// What a watcher is shown: everything but the times that move on their own.
bool SameForWatcher(const v1::WorkflowExecution& a, const v1::WorkflowExecution& b) {
  if (a.status() != b.status() || a.progress_json() != b.progress_json() ||
      a.cancel_requested() != b.cancel_requested() ||
      a.pending_activities_size() != b.pending_activities_size()) {
    return false;
  }
  for (int i = 0; i < a.pending_activities_size(); ++i) {
    const v1::PendingActivity& x = a.pending_activities(i);
    const v1::PendingActivity& y = b.pending_activities(i);
    if (x.seq() != y.seq() || x.state() != y.state() || x.attempt() != y.attempt() ||
        x.last_failure_json() != y.last_failure_json()) {
      return false;
    }
  }
  return true;
}

}  // namespace

WorkflowService::WorkflowService(engine::Client* client, RunChangeFeed* feed,
                                 const BearerAuth* auth)
    : client_(client), feed_(feed), auth_(auth) {}

grpc::Status WorkflowService::StartWorkflow(grpc::ServerContext* context,
                                            const v1::StartWorkflowRequest* request,
                                            v1::StartWorkflowResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::StartWorkflowRequest> start = FromProto(*request);
  if (!start.ok()) return ToGrpcStatus(start.status());
  absl::StatusOr<engine::StartWorkflowResult> started = client_->StartWorkflow(std::move(*start));
  if (!started.ok()) return ToGrpcStatus(started.status());
  response->set_workflow_id(started->workflow_id);
  response->set_run_id(started->run_id);
  response->set_started(started->started);
  if (started->started) {
    LogInfo("workflow started", {{"workflow_id", started->workflow_id},
                                 {"run_id", started->run_id},
                                 {"workflow_type", request->workflow_type()}});
  }
  return grpc::Status::OK;
}

grpc::Status WorkflowService::DescribeWorkflow(grpc::ServerContext* context,
                                               const v1::DescribeWorkflowRequest* request,
                                               v1::DescribeWorkflowResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::ExecutionInfo> e =
      client_->Describe({request->workflow_id(), request->run_id()});
  if (!e.ok()) return ToGrpcStatus(e.status());
  ToProto(*e, response->mutable_execution());
  return grpc::Status::OK;
}

grpc::Status WorkflowService::ListWorkflows(grpc::ServerContext* context,
                                            const v1::ListWorkflowsRequest* request,
                                            v1::ListWorkflowsResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::ListWorkflowsRequest> list = FromProto(*request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  absl::StatusOr<engine::ListWorkflowsResponse> page = client_->List(*list);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const engine::ExecutionInfo& e : page->executions) {
    ToProto(e, response->add_executions());
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status WorkflowService::CancelWorkflow(grpc::ServerContext* context,
                                             const v1::CancelWorkflowRequest* request,
                                             v1::CancelWorkflowResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = ValidateReason(request->reason(), "reason"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status s =
      client_->RequestCancel({request->workflow_id(), request->run_id()}, request->reason());
  if (s.ok()) {
    LogInfo("workflow cancel requested",
            {{"workflow_id", request->workflow_id()}, {"run_id", request->run_id()}});
  }
  return ToGrpcStatus(s);
}

grpc::Status WorkflowService::TerminateWorkflow(grpc::ServerContext* context,
                                                const v1::TerminateWorkflowRequest* request,
                                                v1::TerminateWorkflowResponse*) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = ValidateReason(request->reason(), "reason"); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status s =
      client_->Terminate({request->workflow_id(), request->run_id()}, request->reason());
  if (s.ok()) {
    LogInfo("workflow terminated",
            {{"workflow_id", request->workflow_id()}, {"run_id", request->run_id()}});
  }
  return ToGrpcStatus(s);
}

grpc::Status WorkflowService::GetWorkflowHistory(grpc::ServerContext* context,
                                                 const v1::GetWorkflowHistoryRequest* request,
                                                 v1::GetWorkflowHistoryResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<engine::HistoryPage> page =
      client_->GetHistory({request->workflow_id(), request->run_id()},
                          PageSizeOrDefault(request->page_size()), request->next_page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const engine::HistoryEvent& event : page->events) ToProto(event, response->add_events());
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status WorkflowService::WatchWorkflow(grpc::ServerContext* context,
                                            const v1::WatchWorkflowRequest* request,
                                            grpc::ServerWriter<v1::WatchWorkflowResponse>* writer) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  // Pin the run first, so a new run under the same workflow_id does not switch the stream.
  absl::StatusOr<engine::ExecutionInfo> first =
      client_->Describe({request->workflow_id(), request->run_id()});
  if (!first.ok()) return ToGrpcStatus(first.status());
  const engine::RunRef ref{first->workflow_id, first->run_id};
  std::unique_ptr<RunChangeFeed::Subscription> sub = feed_->Subscribe(ref.run_id);

  v1::WatchWorkflowResponse last;
  bool sent = false;
  absl::StatusOr<engine::ExecutionInfo> e = std::move(first);
  while (true) {
    if (!e.ok()) return ToGrpcStatus(e.status());
    v1::WatchWorkflowResponse next;
    ToProto(*e, next.mutable_execution());
    if (!sent || !SameForWatcher(last.execution(), next.execution())) {
      if (!writer->Write(next)) return grpc::Status(grpc::StatusCode::CANCELLED, "watcher left");
      last = std::move(next);
      sent = true;
    }
    if (e->status != engine::WorkflowStatus::kRunning) return grpc::Status::OK;
    const absl::Time read_at = absl::Now();
    // After a timeout the run is read anyway: a notification may have been missed.
    sub->WaitForChange(kWatchPollInterval);
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "canceled");
    const absl::Duration since = absl::Now() - read_at;
    if (since < kWatchMinInterval) absl::SleepFor(kWatchMinInterval - since);
    e = client_->Describe(ref);
  }
}

}  // namespace vecsync::api
