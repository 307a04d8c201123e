// Shows a run's progress while `workflow start --wait` or `workflow watch` follows it: a live
// bar redrawn in place on a terminal, one plain line per change otherwise (logs, pipes, CI).
//
// The bar is drawn when the workflow's progress document has numeric `done` and `total`; its
// other fields are shown as key=value.
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
  // The text of one update; a bar `bar_width` wide when positive.
  static std::string Describe(const v1::WorkflowExecution& execution, int bar_width);

  FILE* const out_;
  const bool live_;
  bool drawn_ = false;
};

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_PROGRESS_DISPLAY_H_
