#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "src/cli/commands.h"

namespace vecsync::cli {
namespace {
int g_exit_code = 0;
}  // namespace

void AddDatabaseFlags(CLI::App* command, DatabaseFlags* flags) {
  command
      ->add_option("--pg-url", flags->pg_url,
                   "PostgreSQL URL of vecsync's database (env VECSYNC_PG_URL)")
      ->envname("VECSYNC_PG_URL");
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& text, const char* flag) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", text, "' is not a duration (examples: 30s, 5m, 1h30m)"));
  }
  return d;
}

void Fail(const absl::Status& status) {
  std::cerr << "vecsync: " << status.message() << " (" << absl::StatusCodeToString(status.code())
            << ")\n";
  g_exit_code = 1;
}

void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace vecsync::cli
