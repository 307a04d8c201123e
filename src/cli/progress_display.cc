#include "src/cli/progress_display.h"

#include <sys/ioctl.h>
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
  const Json& done = JsonMember(p, "done");
  const Json& total = JsonMember(p, "total");
  if (done.is_number() && total.is_number()) {
    // (Nothing to do is all done.)
    const double fraction = total.get<double>() > 0
                                ? std::clamp(done.get<double>() / total.get<double>(), 0.0, 1.0)
                                : 1.0;
    if (bar_width > 0) {
      const int filled = static_cast<int>(fraction * bar_width + 0.5);
      absl::StrAppend(&line, "  [", std::string(filled, '#'), std::string(bar_width - filled, '.'),
                      "]");
    }
    absl::StrAppend(&line, absl::StrFormat("  %.0f/%.0f %3.0f%%", done.get<double>(),
                                           total.get<double>(), fraction * 100));
  } else if (done.is_number()) {
    absl::StrAppend(&line, absl::StrFormat("  %.0f/?", done.get<double>()));  // Total not known.
  }
  for (const auto& [key, value] : p.items()) {
    if (key == "done" || key == "total") continue;
    if (value.is_number() && value.get<double>() != 0) {
      absl::StrAppend(&line, "  ", key, "=", value.dump());
    } else if (value.is_boolean() && value.get<bool>()) {
      absl::StrAppend(&line, "  ", key);
    } else if (value.is_string()) {
      absl::StrAppend(&line, "  ", key, "=", value.get<std::string>());
    }
  }
  return line;
}

int ProgressDisplay::TerminalWidth() const {
  winsize size{};
  if (ioctl(fileno(out_), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

void ProgressDisplay::Update(const v1::WorkflowExecution& execution) {
  if (live_) {
    // Cut to the width: a line that wraps cannot be redrawn in place. \r and "erase to end of
    // line" redraw it.
    std::string line = Describe(execution, 30);
    const size_t width = static_cast<size_t>(std::max(TerminalWidth() - 1, 10));
    if (line.size() > width) line = line.substr(0, width - 3) + "...";
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    drawn_ = true;
  } else {
    std::string line = Describe(execution, 0);
    if (line == last_line_) return;  // What changed is not shown (a heartbeat, a lease).
    std::fprintf(out_, "%s\n", line.c_str());
    last_line_ = std::move(line);
  }
  std::fflush(out_);
}

void ProgressDisplay::Finish() {
  if (live_ && drawn_) std::fputc('\n', out_);
  drawn_ = false;
  std::fflush(out_);
}

}  // namespace vecsync::cli
