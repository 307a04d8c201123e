// How CLI commands reach a vecsync server: --address, --token-file, TLS and --output flags, and
// a channel plus per-call contexts carrying the bearer token and a deadline.
#ifndef VECSYNC_CLI_API_CLIENT_H_
#define VECSYNC_CLI_API_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "src/cli/commands.h"

namespace vecsync::cli {

struct ApiFlags {
  std::string address = "127.0.0.1:7233";  // Env VECSYNC_ADDRESS.
  std::string token_file;                  // Env VECSYNC_TOKEN_FILE; or the token in VECSYNC_TOKEN.
  bool tls = false;
  std::string tls_ca_file;  // Verify the server against this CA instead of the system roots.
  std::string output = "text";
};

// Adds --address, --token-file, --tls, --tls-ca and --output to `command`.
void AddApiFlags(CLI::App* command, ApiFlags* flags);

class ApiChannel {
 public:
  // Reads the token (if any) and builds the channel; connecting happens on the first call.
  static absl::StatusOr<ApiChannel> Open(const ApiFlags& flags);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // A context for one call: the bearer token and a deadline `timeout` from now (none when
  // timeout is InfiniteDuration).
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) const;

  // Turns a failed call into one readable line naming the server.
  absl::Status Error(const grpc::Status& status) const;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string address_;
  std::string token_;
};

// How the CLI shows a time: RFC 3339 in UTC, with milliseconds.
std::string FormatTime(const google::protobuf::Timestamp& t);

// A field of the API that carries JSON as text (input_json, result_json, …), shown as JSON: null
// when empty, the text itself when it does not parse.
Json EmbeddedJson(const std::string& text);

// Opens the channel the flags name and runs `fn(api, stub)` with a stub of `Service`; prints
// the error (and sets the exit code) when the channel cannot be opened.
template <typename Service, typename Fn>
void WithStub(const ApiFlags& flags, Fn fn) {
  absl::StatusOr<ApiChannel> api = ApiChannel::Open(flags);
  if (!api.ok()) return Fail(api.status());
  auto stub = Service::NewStub(api->channel());
  fn(*api, *stub);
}

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_API_CLIENT_H_
