#include "src/common/listen_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace vecsync {

bool IsLoopbackAddress(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) return true;
  absl::string_view host = listen;
  if (absl::StartsWith(host, "[")) {  // [v6]:port
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (absl::EqualsIgnoreCase(host, "localhost") || host == "::1") return true;
  return absl::StartsWith(host, "127.") && host.size() > 4 && absl::ascii_isdigit(host[4]);
}

}  // namespace vecsync
