// Conversions between absl::Status and grpc::Status. The canonical codes share their numbers,
// so the code and the message carry over unchanged in both directions.
#ifndef VECSYNC_API_GRPC_STATUS_H_
#define VECSYNC_API_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace vecsync::api {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace vecsync::api

#endif  // VECSYNC_API_GRPC_STATUS_H_
