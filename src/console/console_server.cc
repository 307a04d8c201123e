#include "src/console/console_server.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/json.h"
#include "src/common/listen_address.h"
#include "src/common/log.h"
#include "src/console/console_page.h"

namespace vecsync::console {
namespace {

// The largest request body the console reads (its calls are small).
constexpr size_t kMaxRequestBytes = 1 << 20;

// The calls the page makes: reading, and the few actions it offers.
bool Allowed(const std::string& method) {
  static const auto* const kAllowed = new absl::flat_hash_set<std::string>{
      "vecsync.v1.WorkflowService/ListWorkflows",    "vecsync.v1.WorkflowService/DescribeWorkflow",
      "vecsync.v1.WorkflowService/CancelWorkflow",   "vecsync.v1.ScheduleService/ListSchedules",
      "vecsync.v1.ScheduleService/PauseSchedule",    "vecsync.v1.ScheduleService/UnpauseSchedule",
      "vecsync.v1.ScheduleService/TriggerSchedule",  "vecsync.v1.EntityService/GetSyncStatus",
      "vecsync.v1.EntityService/ListFailedEntities", "vecsync.v1.EntityService/RetryFailedEntities",
      "vecsync.v1.SearchService/SearchSimilar",
  };
  return kAllowed->contains(method);
}

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return "INTERNAL";
  }
}

struct Reply {
  int status = 200;
  std::string body;
};

Reply Error(int status, const std::string& code, const std::string& message) {
  return {status, Json{{"code", code}, {"message", message}}.dump()};
}

// Calls `method` ("vecsync.v1.WorkflowService/ListWorkflows") with the request `json`, as the
// holder of `authorization`, and answers its response as JSON.
Reply Forward(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
              const std::string& json, const std::string& authorization) {
  if (!Allowed(method)) return Error(404, "NOT_FOUND", "the console offers no " + method);
  std::string full_name = method;
  full_name[full_name.find('/')] = '.';
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (descriptor == nullptr) return Error(404, "NOT_FOUND", "no method " + method);
  google::protobuf::MessageFactory* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> request(
      factory->GetPrototype(descriptor->input_type())->New());
  if (auto parsed =
          google::protobuf::util::JsonStringToMessage(json.empty() ? "{}" : json, request.get());
      !parsed.ok()) {
    return Error(400, "INVALID_ARGUMENT",
                 absl::StrCat("the request is not a ", descriptor->input_type()->full_name(), ": ",
                              parsed.message().as_string()));
  }
  const std::string bytes = request->SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, "/" + method, request_buffer, &queue);
  call->StartCall();
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  call->Finish(&response_buffer, &status, nullptr);
  void* tag;
  bool ok;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) {
    return Error(HttpStatusOf(status.error_code()), CodeName(status.error_code()),
                 status.error_message());
  }
  std::vector<grpc::Slice> slices;
  (void)response_buffer.Dump(&slices);
  std::string response_bytes;
  for (const grpc::Slice& s : slices) {
    response_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<google::protobuf::Message> response(
      factory->GetPrototype(descriptor->output_type())->New());
  if (!response->ParseFromString(response_bytes)) {
    return Error(500, "INTERNAL", "the response of " + method + " does not parse");
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  Reply reply;
  (void)google::protobuf::util::MessageToJsonString(*response, &reply.body, options);
  return reply;
}

// True when `value` can travel as gRPC metadata: printable ASCII only. gRPC aborts the process
// on anything else, so it must never reach AddMetadata.
bool ValidMetadataValue(const std::string& value) {
  for (unsigned char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Why `req` may not call the API, or "" when it may. The page's calls are JSON POSTs from its own
// origin: a form or another site's page cannot send them without a preflight this server never
// answers. On loopback the Host must name loopback too, so a page whose DNS name was rebound to
// 127.0.0.1 is turned away.
std::string Refusal(const httplib::Request& req, bool loopback, int port) {
  if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
    return "the console's API takes Content-Type: application/json";
  }
  const std::string host = req.get_header_value("Host");
  if (loopback) {
    const std::string suffix = ":" + std::to_string(port);
    bool local = false;
    for (const char* name : {"127.0.0.1", "localhost", "[::1]"}) {
      local = local || host == name + suffix;
    }
    if (!local) return "the console on loopback answers requests for loopback hosts only";
  }
  if (req.has_header("Origin") && req.get_header_value("Origin") != "http://" + host) {
    return "calls from another origin are refused";
  }
  return "";
}

// "host:port" or "[v6]:port" → host and port.
absl::StatusOr<std::pair<std::string, int>> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--console-listen '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host.empty() ? std::string("0.0.0.0") : host, port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    const std::string& listen, std::shared_ptr<grpc::Channel> api) {
  absl::StatusOr<std::pair<std::string, int>> address = SplitListen(listen);
  if (!address.ok()) return address.status();
  auto http = std::make_unique<httplib::Server>();
  std::unique_ptr<ConsoleServer> server(new ConsoleServer(std::move(http), std::move(api)));
  httplib::Server& svr = *server->http_;
  svr.set_default_headers({{"X-Frame-Options", "DENY"},
                           {"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Cache-Control", "no-store"}});
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:; frame-ancestors 'none'");
    res.set_content(kPage, "text/html; charset=utf-8");
  });
  svr.set_payload_max_length(kMaxRequestBytes);
  const std::shared_ptr<grpc::Channel> channel = server->api_;
  const bool loopback = IsLoopbackAddress(listen);
  ConsoleServer* self = server.get();
  svr.Post(R"(/api/([A-Za-z0-9_.]+/[A-Za-z0-9_]+))",
           [channel, loopback, self](const httplib::Request& req, httplib::Response& res) {
             Reply reply;
             const std::string authorization = req.get_header_value("Authorization");
             if (std::string why = Refusal(req, loopback, self->port()); !why.empty()) {
               reply = Error(403, "PERMISSION_DENIED", why);
             } else if (!ValidMetadataValue(authorization)) {
               reply = Error(401, "UNAUTHENTICATED",
                             "the Authorization header holds characters a token never has");
             } else {
               reply = Forward(channel, req.matches[1].str(), req.body, authorization);
             }
             res.status = reply.status;
             res.set_content(reply.body, "application/json");
           });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(Json{{"code", "NOT_FOUND"}, {"message", "no such page"}}.dump(),
                      "application/json");
    }
  });
  server->port_ = address->second == 0
                      ? svr.bind_to_any_port(address->first)
                      : (svr.bind_to_port(address->first, address->second) ? address->second : -1);
  if (server->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " (--console-listen)"));
  }
  server->thread_ = std::thread([&svr] { svr.listen_after_bind(); });
  // Until it runs, stop() would not reach it, and Shutdown() would wait for ever.
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

ConsoleServer::ConsoleServer(std::unique_ptr<httplib::Server> http,
                             std::shared_ptr<grpc::Channel> api)
    : http_(std::move(http)), api_(std::move(api)) {}

ConsoleServer::~ConsoleServer() { Shutdown(); }

void ConsoleServer::Shutdown() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

}  // namespace vecsync::console
