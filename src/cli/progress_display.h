// Shows a run's progress while `workflow start --wait` or `workflow watch` follows it: a live
// line redrawn in place on a terminal (cut to its width), one plain line per visible change
// otherwise (logs, pipes, CI).
//
// The progress document's numeric `done` and `total` draw a bar; without a `total` (not known
// yet) the line shows "done/?" and no bar. Its other non-zero fields are shown as key=value.
#ifndef VECSYNC_CLI_PROGRESS_DISPLAY_H_
#define VECSYNC_CLI_PROGRESS_DISPLAY_H_

#include <cstdio>
#include <string>

#include "vecsync/v1/workflow_service.pb.h"

namespace vecsync::cli {

class ProgressDisplay {
 public:
  // Draws on `out`; live redrawing only when `out` is a terminal.
  explicit ProgressDisplay(FILE* out);

  void Update(const v1::WorkflowExecution& execution);
  // Ends the live line so what follows starts on a fresh line.
  void Finish();

 private:
  // The text of one update, with a bar `bar_width` wide when positive.
  static std::string Describe(const v1::WorkflowExecution& execution, int bar_width);

  // Columns of the terminal `out_` is (80 when it cannot tell).
  int TerminalWidth() const;

  FILE* const out_;
  const bool live_;
  bool drawn_ = false;
  std::string last_line_;  // Off a terminal, a line is printed only when it changes.
};

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_PROGRESS_DISPLAY_H_
