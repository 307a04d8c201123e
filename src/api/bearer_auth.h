// Bearer-token authentication for the gRPC services. A call is let through when its
// `authorization` metadata is "Bearer <token>" for one of the configured tokens (several may be
// configured at once, so tokens can be rotated without downtime). Tokens are compared in
// constant time and never logged. With no tokens configured every call is let through.
//
// The standard health service is deliberately not behind tokens: load balancers and
// Kubernetes probes must reach it without secrets.
//
// Thread-safe (immutable after construction).
#ifndef VECSYNC_API_BEARER_AUTH_H_
#define VECSYNC_API_BEARER_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ServerContext;
}  // namespace grpc

namespace vecsync::api {

class BearerAuth {
 public:
  // No tokens: authentication off.
  BearerAuth() = default;
  // INVALID_ARGUMENT when a token is empty or contains whitespace.
  static absl::StatusOr<BearerAuth> Create(std::vector<std::string> tokens);

  // Reads tokens from `path`, one per line; blank lines and lines starting with '#' are
  // ignored. NOT_FOUND / INVALID_ARGUMENT naming the file when it cannot be read or holds no
  // token.
  static absl::StatusOr<std::vector<std::string>> ReadTokenFile(const std::string& path);

  bool enabled() const { return !tokens_.empty(); }

  // OK, or UNAUTHENTICATED saying what is wrong (missing header, wrong scheme, unknown token)
  // without echoing what was sent.
  absl::Status Check(const grpc::ServerContext& context) const;
  absl::Status CheckHeader(absl::string_view authorization) const;

 private:
  explicit BearerAuth(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}

  std::vector<std::string> tokens_;
};

// True when a == b, taking time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace vecsync::api

#endif  // VECSYNC_API_BEARER_AUTH_H_
