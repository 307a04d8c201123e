// Stable hashes: the same value for the same bytes on every machine, build and run, so they
// can be stored (content hashes in the sync state) and compared across versions of vecsync.
//
// Example:
//   uint64_t h = Fnv1a("team-2/action-7");             // 64-bit FNV-1a
//   std::string key = StableHash(rendered_entity);      // 32 hex digits
#ifndef VECSYNC_COMMON_STABLE_HASH_H_
#define VECSYNC_COMMON_STABLE_HASH_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace vecsync {

// FNV-1a's 64-bit offset basis: the seed of the plain FNV-1a hash.
inline constexpr uint64_t kFnv1aOffsetBasis = 1469598103934665603ULL;

// The 64-bit FNV-1a hash of `text`, starting from `seed`.
uint64_t Fnv1a(absl::string_view text, uint64_t seed = kFnv1aOffsetBasis);

// A 128-bit hash of `text` as 32 lowercase hex digits: FNV-1a twice, with different seeds.
// Not cryptographic; it tells changed content from unchanged.
std::string StableHash(absl::string_view text);

}  // namespace vecsync

#endif  // VECSYNC_COMMON_STABLE_HASH_H_
