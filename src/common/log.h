// One line per event, human-readable text (default) or JSON objects.
//
// Example:
//   LogInfo("workflow completed", {{"workflow_id", id}, {"run_id", run}});
// prints
//   2026-11-21T10:00:00.123Z INFO workflow completed workflow_id=sync-1 run_id=…
//
// Thread-safe: lines from concurrent threads never interleave.
#ifndef VECSYNC_COMMON_LOG_H_
#define VECSYNC_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace vecsync {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

using LogField = std::pair<absl::string_view, std::string>;

// Process-wide settings; call before starting threads.
void SetLogFormat(LogFormat format);
void SetMinLogLevel(LogLevel level);

// Writes one event to stderr when `level` is at least the minimum level.
void LogEvent(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields);

inline void LogDebug(absl::string_view m, std::initializer_list<LogField> f = {}) {
  LogEvent(LogLevel::kDebug, m, f);
}
inline void LogInfo(absl::string_view m, std::initializer_list<LogField> f = {}) {
  LogEvent(LogLevel::kInfo, m, f);
}
inline void LogWarning(absl::string_view m, std::initializer_list<LogField> f = {}) {
  LogEvent(LogLevel::kWarning, m, f);
}
inline void LogError(absl::string_view m, std::initializer_list<LogField> f = {}) {
  LogEvent(LogLevel::kError, m, f);
}

}  // namespace vecsync

#endif  // VECSYNC_COMMON_LOG_H_
