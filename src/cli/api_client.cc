#include "src/cli/api_client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "src/api/bearer_auth.h"
#include "src/api/grpc_status.h"
#include "src/api/proto_convert.h"

namespace vecsync::cli {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

void AddApiFlags(CLI::App* command, ApiFlags* flags) {
  if (std::string env = Env("VECSYNC_ADDRESS"); !env.empty()) flags->address = env;
  flags->token_file = Env("VECSYNC_TOKEN_FILE");
  command->add_option("--address", flags->address, "Server address host:port (env VECSYNC_ADDRESS)")
      ->capture_default_str();
  command->add_option("--token-file", flags->token_file,
                      "File holding the bearer token (env VECSYNC_TOKEN_FILE; or the token "
                      "itself in VECSYNC_TOKEN)");
  command->add_flag("--tls", flags->tls, "Connect with TLS (verified against the system roots)");
  command->add_option("--tls-ca", flags->tls_ca_file,
                      "Connect with TLS, verifying the server against this CA (PEM)");
  AddOutputFlag(command, &flags->output);
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", api::FromProtoTime(t), absl::UTCTimeZone());
}

Json EmbeddedJson(const std::string& text) {
  if (text.empty()) return nullptr;
  absl::StatusOr<Json> parsed = ParseJson(text, "field");
  return parsed.ok() ? *parsed : Json(text);
}

absl::StatusOr<ApiChannel> ApiChannel::Open(const ApiFlags& flags) {
  ApiChannel api;
  api.address_ = flags.address;
  if (!flags.token_file.empty()) {
    absl::StatusOr<std::vector<std::string>> tokens =
        api::BearerAuth::ReadTokenFile(flags.token_file);
    if (!tokens.ok()) return tokens.status();
    api.token_ = tokens->front();
  } else {
    api.token_ = Env("VECSYNC_TOKEN");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (flags.tls || !flags.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!flags.tls_ca_file.empty()) {
      std::ifstream in(flags.tls_ca_file);
      if (!in)
        return absl::NotFoundError(absl::StrCat("--tls-ca: cannot read ", flags.tls_ca_file));
      std::ostringstream pem;
      pem << in.rdbuf();
      ssl.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  api.channel_ = grpc::CreateCustomChannel(flags.address, credentials, args);
  return api;
}

std::unique_ptr<grpc::ClientContext> ApiChannel::Context(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
  return context;
}

absl::Status ApiChannel::Error(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      status.error_message().find("connect") != std::string::npos) {
    return absl::UnavailableError(absl::StrCat("cannot reach the vecsync server at ", address_,
                                               " (is `vecsync server` running? --address)"));
  }
  return api::FromGrpcStatus(status);
}

}  // namespace vecsync::cli
