// The web console `vecsync server` serves (--console-listen, default 127.0.0.1:9465): a page
// (console_page.h) and, under /api/, the gRPC API's calls it makes, as JSON:
//
//   POST /api/vecsync.v1.WorkflowService/ListWorkflows   {"pageSize": 50}
//   → 200 {"executions": [...]}   (the response message in protobuf's JSON mapping)
//
// Each call goes to the server's own services through an in-process channel with the caller's
// `Authorization` header as its metadata, so the console answers exactly what the API answers,
// behind the same tokens. Only the calls the page needs are let through (reading runs,
// schedules, status, failed entities and search; cancelling a run, pausing, unpausing and
// triggering a schedule, retrying failed entities); others are 404. gRPC errors become HTTP
// statuses (UNAUTHENTICATED 401, INVALID_ARGUMENT 400, NOT_FOUND 404, FAILED_PRECONDITION 409,
// UNAVAILABLE 503, others 500) with {"code": "...", "message": "..."}.
//
// Only JSON POSTs are taken (a form or another site cannot send one without a preflight, which is
// never granted), from the page's own origin; on loopback only for loopback host names (no DNS
// rebinding); at most 1 MiB; and an Authorization header that could not be a token is refused
// before it reaches gRPC.
//
// Served by cpp-httplib on a thread pool of its own. Start and Shutdown belong to the owner.
#ifndef VECSYNC_CONSOLE_CONSOLE_SERVER_H_
#define VECSYNC_CONSOLE_CONSOLE_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace httplib {
class Server;
}  // namespace httplib

namespace vecsync::console {

class ConsoleServer {
 public:
  // Listens on `listen` (host:port; port 0 picks one), calling the API through `api`.
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(const std::string& listen,
                                                              std::shared_ptr<grpc::Channel> api);
  ~ConsoleServer();

  int port() const { return port_; }
  void Shutdown();

 private:
  ConsoleServer(std::unique_ptr<httplib::Server> http, std::shared_ptr<grpc::Channel> api);

  std::unique_ptr<httplib::Server> http_;
  std::shared_ptr<grpc::Channel> api_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace vecsync::console

#endif  // VECSYNC_CONSOLE_CONSOLE_SERVER_H_
