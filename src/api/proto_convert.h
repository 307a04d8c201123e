// Translation between the engine's records (src/engine/types.h) and the vecsync.v1 messages.
// Request conversions validate what the engine cannot see (JSON text, enum values, sizes) and
// name the offending field in an INVALID_ARGUMENT.
#ifndef VECSYNC_API_PROTO_CONVERT_H_
#define VECSYNC_API_PROTO_CONVERT_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "src/engine/types.h"
#include "vecsync/v1/workflow_service.pb.h"

namespace vecsync::api {

// Bounds on what one request may carry (the server also caps whole messages).
inline constexpr size_t kMaxInputJsonBytes = 1 << 20;
inline constexpr size_t kMaxReasonBytes = 4096;
inline constexpr int kDefaultPageSize = 100;

absl::Time FromProtoTime(const google::protobuf::Timestamp& t);
void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);
void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out);
// A JSON object from a request field; "{}" when empty. INVALID_ARGUMENT naming `field` when it
// is not JSON, not an object, or longer than kMaxInputJsonBytes.
absl::StatusOr<Json> ParseInputJson(const std::string& text, const char* field);

v1::WorkflowStatus ToProtoStatus(engine::WorkflowStatus status);
// INVALID_ARGUMENT for UNSPECIFIED or an unknown number, naming `field`.
absl::StatusOr<engine::WorkflowStatus> FromProtoStatus(int status, const char* field);
// "RUNNING", "COMPLETED", … for a proto status.
std::string ProtoStatusName(v1::WorkflowStatus status);

absl::StatusOr<engine::StartWorkflowRequest> FromProto(const v1::StartWorkflowRequest& request);
absl::StatusOr<engine::ListWorkflowsRequest> FromProto(const v1::ListWorkflowsRequest& request);

void ToProto(const engine::ExecutionInfo& execution, v1::WorkflowExecution* out);
void ToProto(const engine::HistoryEvent& event, v1::HistoryEvent* out);

// A page size from a request: 0 means kDefaultPageSize; the engine checks the range.
int PageSizeOrDefault(int page_size);

// INVALID_ARGUMENT naming `field` when `reason` is longer than kMaxReasonBytes.
absl::Status ValidateReason(const std::string& reason, const char* field);

}  // namespace vecsync::api

#endif  // VECSYNC_API_PROTO_CONVERT_H_
