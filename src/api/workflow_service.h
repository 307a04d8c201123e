// The gRPC WorkflowService (proto/vecsync/v1/workflow_service.proto) over the engine's Client.
// Each call checks the bearer token first, converts and validates the request, and maps the
// engine's absl::Status to the same canonical gRPC code.
//
// Thread-safe. The client, feed and auth must outlive the service.
#ifndef VECSYNC_API_WORKFLOW_SERVICE_H_
#define VECSYNC_API_WORKFLOW_SERVICE_H_

#include "src/api/bearer_auth.h"
#include "src/api/run_change_feed.h"
#include "src/engine/client.h"
#include "vecsync/v1/workflow_service.grpc.pb.h"

namespace vecsync::api {

class WorkflowService final : public v1::WorkflowService::Service {
 public:
  WorkflowService(engine::Client* client, RunChangeFeed* feed, const BearerAuth* auth);

  grpc::Status StartWorkflow(grpc::ServerContext* context, const v1::StartWorkflowRequest* request,
                             v1::StartWorkflowResponse* response) override;
  grpc::Status DescribeWorkflow(grpc::ServerContext* context,
                                const v1::DescribeWorkflowRequest* request,
                                v1::DescribeWorkflowResponse* response) override;
  grpc::Status ListWorkflows(grpc::ServerContext* context, const v1::ListWorkflowsRequest* request,
                             v1::ListWorkflowsResponse* response) override;
  grpc::Status CancelWorkflow(grpc::ServerContext* context,
                              const v1::CancelWorkflowRequest* request,
                              v1::CancelWorkflowResponse* response) override;
  grpc::Status TerminateWorkflow(grpc::ServerContext* context,
                                 const v1::TerminateWorkflowRequest* request,
                                 v1::TerminateWorkflowResponse* response) override;
  grpc::Status GetWorkflowHistory(grpc::ServerContext* context,
                                  const v1::GetWorkflowHistoryRequest* request,
                                  v1::GetWorkflowHistoryResponse* response) override;
  grpc::Status WatchWorkflow(grpc::ServerContext* context, const v1::WatchWorkflowRequest* request,
                             grpc::ServerWriter<v1::WatchWorkflowResponse>* writer) override;

 private:
  engine::Client* const client_;
  RunChangeFeed* const feed_;
  const BearerAuth* const auth_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_WORKFLOW_SERVICE_H_
