// The one local pair of status-propagation macros (Debian's abseil 20220623 has no
// status_macros.h).
//
// Example:
//   RETURN_IF_ERROR(conn.Execute("BEGIN"));
//   ASSIGN_OR_RETURN(PgResult rows, conn.Query("SELECT 1"));
#ifndef VECSYNC_COMMON_STATUS_MACROS_H_
#define VECSYNC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VECSYNC_CONCAT_INNER_(a, b) a##b
#define VECSYNC_CONCAT_(a, b) VECSYNC_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status vecsync_status_ = (expr);           \
    if (!vecsync_status_.ok()) return vecsync_status_; \
  } while (0)

// Evaluates `rexpr` (a StatusOr<T>); returns its status when not OK, otherwise moves the value
// into `lhs` (which may be a declaration).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(VECSYNC_CONCAT_(vecsync_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // VECSYNC_COMMON_STATUS_MACROS_H_
