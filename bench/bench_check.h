// Benchmarks stop at the first failure, naming the step: a benchmark that measured something
// broken must not print a ratio.
#ifndef VECSYNC_BENCH_BENCH_CHECK_H_
#define VECSYNC_BENCH_BENCH_CHECK_H_

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"

namespace vecsync::bench {

inline void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "benchmark failed at %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace vecsync::bench

#endif  // VECSYNC_BENCH_BENCH_CHECK_H_
