// Whether a listen address ("host:port", as given to --listen) is reachable from this machine
// only. The API and the web console use it to refuse, or warn, before serving beyond loopback
// without protection.
#ifndef VECSYNC_COMMON_LISTEN_ADDRESS_H_
#define VECSYNC_COMMON_LISTEN_ADDRESS_H_

#include "absl/strings/string_view.h"

namespace vecsync {

// True for 127.0.0.0/8, [::1], localhost and unix sockets; false for wildcard (0.0.0.0, [::],
// an empty host) and every other host, which may be reachable from elsewhere.
bool IsLoopbackAddress(absl::string_view listen);

}  // namespace vecsync

#endif  // VECSYNC_COMMON_LISTEN_ADDRESS_H_
