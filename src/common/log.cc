#include "src/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<LogLevel> g_min_level{LogLevel::kInfo};
std::mutex g_write_mu;

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

// Quotes a text-format value when it holds spaces, quotes or '='.
std::string TextValue(const std::string& value) {
  if (value.find_first_of(" \"=\t\n") == std::string::npos && !value.empty()) return value;
  return Json(value).dump();
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format = format; }
void SetMinLogLevel(LogLevel level) { g_min_level = level; }

void LogEvent(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields) {
  if (level < g_min_level.load()) return;
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  if (g_format.load() == LogFormat::kJson) {
    Json event = {{"ts", time}, {"level", LevelName(level)}, {"msg", message}};
    for (const auto& [key, value] : fields) event[std::string(key)] = value;
    line = event.dump(-1, ' ', false, Json::error_handler_t::replace);
  } else {
    line = time + " " + std::string(LevelName(level)) + " " + std::string(message);
    for (const auto& [key, value] : fields) {
      line += " " + std::string(key) + "=" + TextValue(value);
    }
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace vecsync
