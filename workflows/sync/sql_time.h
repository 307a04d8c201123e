// Times cross between vecsync and PostgreSQL as microseconds since the Unix epoch (int64), in
// both directions, so no time zone or text format is ever involved.
#ifndef VECSYNC_WORKFLOWS_SYNC_SQL_TIME_H_
#define VECSYNC_WORKFLOWS_SYNC_SQL_TIME_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vecsync::workflows {

// Prefix of a timestamptz made from a bigint of microseconds: StrCat(kTimestampFromMicros, "$1").
inline constexpr char kTimestampFromMicros[] = "'epoch'::timestamptz + interval '1 microsecond' * ";

// A SQL expression with `column` (a timestamptz) as a bigint of microseconds.
inline std::string MicrosOf(absl::string_view column) {
  return absl::StrCat("(EXTRACT(EPOCH FROM ", column, ") * 1000000)::bigint");
}

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SQL_TIME_H_
