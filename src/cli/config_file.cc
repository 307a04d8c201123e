#include "src/cli/config_file.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vecsync::cli {
namespace {

// True when `args` already sets option `--name`.
bool OnCommandLine(const std::vector<std::string>& args, const std::string& name) {
  for (const std::string& a : args) {
    if (a == name || absl::StartsWith(a, name + "=")) return true;
  }
  return false;
}

std::string Unquote(absl::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ApplyConfigFile(const CLI::App& app,
                                                         std::vector<std::string> args) {
  if (args.empty() || args[0] != "server") return args;
  const CLI::App* server = app.get_subcommand("server");
  std::string path;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    if (absl::StartsWith(args[i], "--config=")) path = args[i].substr(9);
  }
  if (path.empty()) {
    const char* env = std::getenv("VECSYNC_CONFIG");
    if (env == nullptr || *env == '\0') return args;
    path = env;
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const size_t eq = text.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": expected 'setting = value'"));
    }
    const std::string key(absl::StripAsciiWhitespace(text.substr(0, eq)));
    const std::string value = Unquote(absl::StripAsciiWhitespace(text.substr(eq + 1)));
    const std::string flag = "--" + key;
    const CLI::Option* option = key == "config" ? nullptr : server->get_option_no_throw(flag);
    if (option == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": unknown setting '", key,
                                                     "' (see vecsync server --help)"));
    }
    if (OnCommandLine(args, flag)) continue;
    if (const std::string& env = option->get_envname(); !env.empty()) {
      const char* set = std::getenv(env.c_str());
      if (set != nullptr && *set != '\0') continue;
    }
    if (option->get_type_size() == 0) {  // A flag: true sets it, false leaves it out.
      if (absl::EqualsIgnoreCase(value, "true")) {
        args.push_back(flag);
      } else if (!absl::EqualsIgnoreCase(value, "false")) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", number, ": '", key, "' takes true or false"));
      }
    } else {
      args.push_back(flag + "=" + value);
    }
  }
  return args;
}

}  // namespace vecsync::cli
