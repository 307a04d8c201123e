// gRPC server reflection (proto/grpc/reflection/v1alpha/reflection.proto), for grpcurl and
// grpc_cli: the services the server carries, and the proto files that describe them, from the
// descriptors compiled into the binary. Served by vecsync rather than gRPC's plugin because the
// plugin cannot check a caller: with auth on, this one answers token holders only
// (UNAUTHENTICATED otherwise), as every vecsync service does.
//
// Thread-safe. The pointer must outlive the service.
#ifndef VECSYNC_API_REFLECTION_SERVICE_H_
#define VECSYNC_API_REFLECTION_SERVICE_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "src/api/bearer_auth.h"

namespace vecsync::api {

class ReflectionService final : public grpc::reflection::v1alpha::ServerReflection::Service {
 public:
  // `services`: the full names of the services to list (this one is added).
  ReflectionService(const BearerAuth* auth, std::vector<std::string> services);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1alpha::ServerReflectionResponse,
                               grpc::reflection::v1alpha::ServerReflectionRequest>* stream)
      override;

 private:
  const BearerAuth* const auth_;
  std::vector<std::string> services_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_REFLECTION_SERVICE_H_
