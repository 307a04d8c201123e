#include "entities/property_filter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace vecsync::entities {

std::string RenderPropertyFilter(const Json& filter, const std::string& default_type) {
  static const std::pair<const char*, const char*> kOperators[] = {
      {"exact", "is"},
      {"is_not", "is not"},
      {"icontains", "contains"},
      {"not_icontains", "does not contain"},
      {"regex", "matches regex"},
      {"not_regex", "does not match regex"},
      {"gt", "is greater than"},
      {"lt", "is less than"},
      {"is_set", "is set"},
      {"is_not_set", "is not set"}};
  const std::string op =
      JsonText(filter, "operator").empty() ? "exact" : JsonText(filter, "operator");
  std::string verb = op;
  for (const auto& [name, words] : kOperators) {
    if (op == name) verb = words;
  }
  const std::string type =
      JsonText(filter, "type").empty() ? default_type : JsonText(filter, "type");
  std::string out = absl::StrCat(type, " property `", JsonText(filter, "key"), "` ", verb);
  if (op != "is_set" && op != "is_not_set") {
    absl::StrAppend(&out, " `", JsonText(filter, "value"), "`");
  }
  if (filter.is_object() && filter.value("negation", false)) out = absl::StrCat("NOT (", out, ")");
  return out;
}

}  // namespace vecsync::entities
