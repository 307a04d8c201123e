#include "entities/cohort.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vecsync::entities {
namespace {

std::string Str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string Leaf(const Json& f) {
  const std::string type = Str(f, "type");
  if (type == "behavioral") {
    std::string verb = Str(f, "value") == "performed_event_multiple"   ? "performed event"
                       : Str(f, "value") == "stopped_performing_event" ? "stopped performing event"
                                                                       : "performed event";
    std::string out = absl::StrCat(verb, " `", Str(f, "key"), "`");
    if (!Str(f, "time_value").empty()) {
      absl::StrAppend(&out, " in the last ", Str(f, "time_value"), " ", Str(f, "time_interval"),
                      "s");
    }
    return out;
  }
  if (type == "cohort") return absl::StrCat("belongs to cohort ", Str(f, "value"));
  std::string op = Str(f, "operator").empty() ? "exact" : Str(f, "operator");
  std::string verb = op == "exact"           ? "is"
                     : op == "is_not"        ? "is not"
                     : op == "icontains"     ? "contains"
                     : op == "not_icontains" ? "does not contain"
                     : op == "gt"            ? "is greater than"
                     : op == "lt"            ? "is less than"
                     : op == "is_set"        ? "is set"
                                             : op;
  std::string out =
      absl::StrCat(type.empty() ? "person" : type, " property `", Str(f, "key"), "` ", verb);
  if (op != "is_set") absl::StrAppend(&out, " `", Str(f, "value"), "`");
  if (f.is_object() && f.value("negation", false)) out = absl::StrCat("NOT (", out, ")");
  return out;
}

class CohortConfig : public EntityConfig {
 public:
  std::string domain() const override { return "cohort"; }
  std::string table() const override { return "posthog_cohort"; }
  std::string fields_sql() const override {
    return "jsonb_build_object('name', s.name, 'description', s.description, "
           "'filters', s.filters, 'is_static', s.is_static, 'count', s.count)";
  }

  std::string Render(const EntityRecord& e) const override {
    std::string out = absl::StrCat("Name: ", Str(e.fields, "name"), "\n");
    if (!Str(e.fields, "description").empty()) {
      absl::StrAppend(&out, "Description: ", Str(e.fields, "description"), "\n");
    }
    if (e.fields.value("is_static", false)) {
      absl::StrAppend(&out, "A static cohort: a fixed list of persons.\n");
    }
    const Json& filters = e.fields.contains("filters") ? e.fields["filters"] : Json();
    if (filters.is_object() && filters.contains("properties")) {
      absl::StrAppend(&out, "Persons who match: ", RenderCohortFilter(filters["properties"]), "\n");
    }
    return out;
  }

  Json Properties(const EntityRecord& e) const override {
    return {
        {"name", Str(e.fields, "name")},
        {"description", Str(e.fields, "description")},
        {"is_static", e.fields.value("is_static", false)},
        {"count",
         e.fields.contains("count") && e.fields["count"].is_number() ? e.fields["count"] : Json()}};
  }
};

}  // namespace

std::string RenderCohortFilter(const Json& node) {
  if (node.is_object() && node.contains("values") && node["values"].is_array()) {
    const std::string joiner = Str(node, "type") == "OR" ? " OR " : " AND ";
    std::vector<std::string> parts;
    for (const Json& child : node["values"]) {
      const bool group = child.is_object() && child.contains("values");
      parts.push_back(group ? absl::StrCat("(", RenderCohortFilter(child), ")")
                            : RenderCohortFilter(child));
    }
    return parts.empty() ? "everyone" : absl::StrJoin(parts, joiner);
  }
  return Leaf(node);
}

std::unique_ptr<EntityConfig> NewCohortConfig() { return std::make_unique<CohortConfig>(); }

}  // namespace vecsync::entities
