// Random (version 4) UUIDs, formatted as 8-4-4-4-12 lowercase hex.
#ifndef VECSYNC_COMMON_UUID_H_
#define VECSYNC_COMMON_UUID_H_

#include <string>

namespace vecsync {

// Thread-safe.
std::string NewUuid();

}  // namespace vecsync

#endif  // VECSYNC_COMMON_UUID_H_
