// The gRPC ScheduleService (proto/vecsync/v1/schedule_service.proto) over engine::Schedules.
// Each call checks the bearer token, converts and validates the request (naming the field),
// and maps the engine's status to the same canonical code.
//
// Thread-safe. The pointers must outlive the service.
#ifndef VECSYNC_API_SCHEDULE_SERVICE_H_
#define VECSYNC_API_SCHEDULE_SERVICE_H_

#include "src/api/bearer_auth.h"
#include "src/engine/schedules.h"
#include "vecsync/v1/schedule_service.grpc.pb.h"

namespace vecsync::api {

class ScheduleService final : public v1::ScheduleService::Service {
 public:
  ScheduleService(engine::Schedules* schedules, const BearerAuth* auth);

  grpc::Status CreateSchedule(grpc::ServerContext* context,
                              const v1::CreateScheduleRequest* request,
                              v1::CreateScheduleResponse* response) override;
  grpc::Status DescribeSchedule(grpc::ServerContext* context,
                                const v1::DescribeScheduleRequest* request,
                                v1::DescribeScheduleResponse* response) override;
  grpc::Status ListSchedules(grpc::ServerContext* context, const v1::ListSchedulesRequest* request,
                             v1::ListSchedulesResponse* response) override;
  grpc::Status UpdateSchedule(grpc::ServerContext* context,
                              const v1::UpdateScheduleRequest* request,
                              v1::UpdateScheduleResponse* response) override;
  grpc::Status DeleteSchedule(grpc::ServerContext* context,
                              const v1::DeleteScheduleRequest* request,
                              v1::DeleteScheduleResponse* response) override;
  grpc::Status PauseSchedule(grpc::ServerContext* context, const v1::PauseScheduleRequest* request,
                             v1::PauseScheduleResponse* response) override;
  grpc::Status UnpauseSchedule(grpc::ServerContext* context,
                               const v1::UnpauseScheduleRequest* request,
                               v1::UnpauseScheduleResponse* response) override;
  grpc::Status TriggerSchedule(grpc::ServerContext* context,
                               const v1::TriggerScheduleRequest* request,
                               v1::TriggerScheduleResponse* response) override;

 private:
  engine::Schedules* const schedules_;
  const BearerAuth* const auth_;
};

// Conversions, exposed for the CLI and tests. UNSPECIFIED maps to `unspecified`.
absl::StatusOr<engine::OverlapPolicy> FromProtoOverlap(int policy,
                                                       engine::OverlapPolicy unspecified);
v1::ScheduleOverlapPolicy ToProtoOverlap(engine::OverlapPolicy policy);
absl::StatusOr<engine::ScheduleDefinition> FromProto(const std::string& schedule_id,
                                                     const v1::Schedule& schedule);
void ToProto(const engine::ScheduleDefinition& definition, v1::Schedule* out);
void ToProto(const engine::ScheduleDescription& description, v1::ScheduleInfo* out);

}  // namespace vecsync::api

#endif  // VECSYNC_API_SCHEDULE_SERVICE_H_
