// A small HTTP/1.1 server for operational endpoints (/metrics, /healthz, /readyz): GET and HEAD
// only, one request per connection, requests handled one at a time on the server's thread; a
// request must arrive whole within 2 s, so a slow client cannot hold the thread long.
//
// Example:
//   ASSIGN_OR_RETURN(auto http, HttpServer::Start("127.0.0.1:9464",
//       {{"/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; }}}));
//
// Thread-safe.
#ifndef VECSYNC_COMMON_HTTP_SERVER_H_
#define VECSYNC_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace vecsync {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse()>;

  // Listens on `listen` ("host:port"; port 0 picks one) and serves `routes` by exact path
  // (the query string is ignored). UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           std::map<std::string, Handler> routes);
  ~HttpServer();

  int port() const { return port_; }
  // Stops accepting and joins the thread. Idempotent.
  void Shutdown();

 private:
  HttpServer(int fd, int port, std::map<std::string, Handler> routes);
  void Serve();
  void HandleConnection(int client);

  const int fd_;
  const int port_;
  const std::map<std::string, Handler> routes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace vecsync

#endif  // VECSYNC_COMMON_HTTP_SERVER_H_
