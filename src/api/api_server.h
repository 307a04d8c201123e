// The gRPC server that carries vecsync's services (reflection among them: reflection_service.h),
// plus the standard health service (for grpc_health_probe and Kubernetes gRPC probes, never
// behind tokens).
//
// Example:
//   ApiServerOptions options;
//   options.listen = "127.0.0.1:7233";
//   ASSIGN_OR_RETURN(auto server, ApiServer::Start(options, {&workflows, &search}));
//   ...
//   server->Shutdown(absl::Seconds(5));
//
// SetServing is thread-safe; Start and Shutdown belong to the owner.
#ifndef VECSYNC_API_API_SERVER_H_
#define VECSYNC_API_API_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
class Server;
class Service;
}  // namespace grpc

namespace vecsync::api {

struct ApiServerOptions {
  // host:port; port 0 picks a free port (see ApiServer::port()).
  std::string listen = "127.0.0.1:7233";
  // PEM files; TLS is on when both are set (setting one alone is an error).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Larger requests are refused with RESOURCE_EXHAUSTED before they reach a service.
  int max_receive_message_bytes = 4 << 20;
};

class ApiServer {
 public:
  // Starts serving `services` (not owned; they must outlive the server). UNAVAILABLE when the
  // address cannot be bound; INVALID_ARGUMENT / NOT_FOUND for bad TLS settings.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(
      const ApiServerOptions& options, const std::vector<grpc::Service*>& services);
  ~ApiServer();

  int port() const { return port_; }

  // A channel to this server's services within the process (no network, no TLS): the web
  // console's calls go through it, through the same auth as everyone's.
  std::shared_ptr<grpc::Channel> InProcessChannel() const;
  bool tls() const { return tls_; }

  // Flips every health status (overall and per service) between SERVING and NOT_SERVING.
  void SetServing(bool serving);

  // Stops accepting calls and cancels those still running after `grace`. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  ApiServer(std::unique_ptr<grpc::Server> server, int port, bool tls);

  std::unique_ptr<grpc::Server> server_;
  const int port_;
  const bool tls_;
  bool shut_down_ = false;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_API_SERVER_H_
