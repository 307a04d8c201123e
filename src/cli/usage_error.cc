#include "src/cli/usage_error.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace vecsync::cli {
namespace {

// The deepest subcommand the parse reached: the command the user meant.
const CLI::App* Selected(const CLI::App& app) {
  const CLI::App* command = &app;
  while (true) {
    std::vector<const CLI::App*> chosen =
        command->get_subcommands([](const CLI::App* sub) { return sub->parsed(); });
    if (chosen.empty()) return command;
    command = chosen.front();
  }
}

std::string PathOf(const CLI::App* command) {
  std::vector<std::string> names;
  for (; command != nullptr; command = command->get_parent()) {
    names.insert(names.begin(), command->get_parent() == nullptr ? "vecsync" : command->get_name());
  }
  return absl::StrJoin(names, " ");
}

std::vector<std::string> SubcommandNames(const CLI::App* command) {
  std::vector<std::string> names;
  for (const CLI::App* sub : command->get_subcommands({})) names.push_back(sub->get_name());
  return names;
}

}  // namespace

std::string DescribeUsageError(const CLI::App& app, const CLI::ParseError& error) {
  const CLI::App* command = Selected(app);
  const std::string path = PathOf(command);
  // What the parse left over; a command passes what it does not know up to its parents.
  std::vector<std::string> extras;
  for (const CLI::App* c = command; c != nullptr && extras.empty(); c = c->get_parent()) {
    extras = c->remaining();
  }
  std::string problem = absl::StrReplaceAll(error.what(), {{"\n", " "}});
  if (!problem.empty()) problem[0] = absl::ascii_tolower(problem[0]);
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    // CLI11 names them in the reversed order it parses in.
    const size_t colon = problem.find(": ");
    std::vector<std::string> unexpected =
        absl::StrSplit(problem.substr(colon + 2), ' ', absl::SkipEmpty());
    std::reverse(unexpected.begin(), unexpected.end());
    problem = absl::StrCat("unexpected argument", unexpected.size() == 1 ? " " : "s ",
                           absl::StrJoin(unexpected, " "));
    if (extras.empty()) extras = unexpected;
  }
  const std::vector<std::string> subcommands = SubcommandNames(command);
  if (!subcommands.empty() && command->get_subcommands().empty()) {
    // A group (`vecsync workflow`) given no command, or a word it does not know.
    const std::string known = absl::StrJoin(subcommands, ", ");
    problem = extras.empty() || extras.front().rfind('-', 0) == 0
                  ? absl::StrCat("a command is required: ", known)
                  : absl::StrCat("unknown command '", extras.front(), "' (one of: ", known, ")");
  }
  return absl::StrCat(path, ": ", problem, " (see `", path, " --help`)");
}

}  // namespace vecsync::cli
