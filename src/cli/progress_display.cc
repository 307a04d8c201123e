#include "src/cli/progress_display.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/api/proto_convert.h"
#include "src/common/json.h"

namespace vecsync::cli {

ProgressDisplay::ProgressDisplay(FILE* out) : out_(out), live_(isatty(fileno(out)) == 1) {}

std::string ProgressDisplay::Describe(const v1::WorkflowExecution& execution, int bar_width) {
  std::string line = api::ProtoStatusName(execution.status());
  if (execution.cancel_requested() && execution.status() == v1::WORKFLOW_STATUS_RUNNING) {
    absl::StrAppend(&line, " (cancel requested)");
  }
  if (execution.progress_json().empty()) {
    if (execution.pending_activities_size() > 0) {
      const v1::PendingActivity& a = execution.pending_activities(0);
      absl::StrAppend(&line, "  ", a.activity_type(), " ", a.state(), " attempt ", a.attempt());
      // Why it is retrying, so a stuck run explains itself.
      absl::StatusOr<Json> failure = ParseJson(a.last_failure_json(), "last_failure");
      if (failure.ok() && failure->is_object() && failure->contains("message") &&
          (*failure)["message"].is_string()) {
        std::string message = (*failure)["message"].get<std::string>();
        if (message.size() > 120) message = message.substr(0, 117) + "...";
        absl::StrAppend(&line, " (last failure: ", message, ")");
      }
    }
    return line;
  }
  absl::StatusOr<Json> progress = ParseJson(execution.progress_json(), "progress");
  if (!progress.ok() || !progress->is_object()) return line;
  const Json& p = *progress;
  if (p.contains("done") && p.contains("total") && p["done"].is_number() &&
      p["total"].is_number()) {
    const double done = p["done"].get<double>();
    const double total = p["total"].get<double>();
    const double fraction = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
    if (bar_width > 0) {
      const int filled = static_cast<int>(fraction * bar_width + 0.5);
      absl::StrAppend(&line, "  [", std::string(filled, '#'), std::string(bar_width - filled, '.'),
                      "]");
    }
    absl::StrAppend(&line, absl::StrFormat("  %.0f/%.0f %3.0f%%", done, total, fraction * 100));
  }
  for (const auto& [key, value] : p.items()) {
    if (key == "done" || key == "total") continue;
    if (value.is_number() || value.is_boolean()) {
      absl::StrAppend(&line, "  ", key, "=", value.dump());
    } else if (value.is_string()) {
      absl::StrAppend(&line, "  ", key, "=", value.get<std::string>());
    }
  }
  return line;
}

void ProgressDisplay::Update(const v1::WorkflowExecution& execution) {
  if (live_) {
    // \r and "erase to end of line" redraw the same line in place.
    std::fprintf(out_, "\r%s\033[K", Describe(execution, 30).c_str());
    drawn_ = true;
  } else {
    std::fprintf(out_, "%s\n", Describe(execution, 0).c_str());
  }
  std::fflush(out_);
}

void ProgressDisplay::Finish() {
  if (live_ && drawn_) std::fputc('\n', out_);
  drawn_ = false;
  std::fflush(out_);
}

}  // namespace vecsync::cli
