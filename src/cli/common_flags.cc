#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "entities/registry.h"
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

void AddOutputFlag(CLI::App* command, std::string* output) {
  command->add_option("--output,-o", *output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

CLI::Validator DurationValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::Duration d;
        if (absl::ParseDuration(text, &d)) return "";
        return "'" + text + "' is not a duration (examples: 30s, 5m, 1h30m)";
      },
      "DURATION");
}

CLI::Validator DomainValidator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        const entities::EntityConfigRegistry& registry = entities::EntityConfigRegistry::BuiltIn();
        if (registry.Find(name).ok()) return "";
        return "unknown domain '" + name + "' (known: " + absl::StrJoin(registry.Domains(), ", ") +
               ")";
      },
      "DOMAIN");
}

absl::StatusOr<std::string> ReadInputFile(const std::string& path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--input-file: cannot read ", path));
  text << in.rdbuf();
  return text.str();
}

void PrintOutcome(const std::string& output, const Json& json, const std::string& text) {
  if (output == "json") {
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << text << "\n";
  }
}

void Fail(const absl::Status& status) {
  // PostgreSQL's errors come with DETAIL and HINT lines: one line keeps logs and scripts sane.
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(status.message(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  std::cerr << "vecsync: " << absl::StrJoin(lines, "; ") << " ("
            << absl::StatusCodeToString(status.code()) << ")\n";
  g_exit_code = 1;
}

void FailUsage(const std::string& message) {
  std::cerr << "vecsync: " << message << "\n";
  g_exit_code = 2;
}

void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace vecsync::cli
