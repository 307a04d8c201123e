#include "src/common/stable_hash.h"

#include "absl/strings/str_format.h"

namespace vecsync {

uint64_t Fnv1a(absl::string_view text, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string StableHash(absl::string_view text) {
  return absl::StrFormat("%016x%016x", Fnv1a(text), Fnv1a(text, 0x84222325CBF29CE4ULL));
}

}  // namespace vecsync
