#include "entities/cohort.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "entities/posthog_scope.h"
#include "entities/property_filter.h"

namespace vecsync::entities {
namespace {

std::string Leaf(const Json& f) {
  const std::string type = JsonText(f, "type");
  if (type == "behavioral") {
    std::string verb = JsonText(f, "value") == "performed_event_multiple" ? "performed event"
                       : JsonText(f, "value") == "stopped_performing_event"
                           ? "stopped performing event"
                           : "performed event";
    std::string out = absl::StrCat(verb, " `", JsonText(f, "key"), "`");
    if (!JsonText(f, "time_value").empty()) {
      absl::StrAppend(&out, " in the last ", JsonText(f, "time_value"), " ",
                      JsonText(f, "time_interval"), "s");
    }
    return out;
  }
  if (type == "cohort") return absl::StrCat("belongs to cohort ", JsonText(f, "value"));
  return RenderPropertyFilter(f, "person");
}

class CohortConfig : public EntityConfig {
 public:
  std::string domain() const override { return "cohort"; }
  std::string table() const override { return "posthog_cohort"; }
  SourceScope scope() const override { return PostHogApprovedOrganizations(); }
  std::string fields_sql() const override {
    return "json_build_object('name', s.name, 'description', s.description, "
           "'filters', s.filters, 'is_static', s.is_static, 'count', s.count)";
  }

  std::string summary_prompt() const override {
    return "Summarize this PostHog cohort for semantic search in at most three sentences: which "
           "persons belong to it, by their properties and by what they did.";
  }

  std::string Render(const EntityRecord& e) const override {
    std::string out = absl::StrCat("Name: ", JsonText(e.fields, "name"), "\n");
    if (!JsonText(e.fields, "description").empty()) {
      absl::StrAppend(&out, "Description: ", JsonText(e.fields, "description"), "\n");
    }
    if (e.fields.value("is_static", false)) {
      absl::StrAppend(&out, "A static cohort: a fixed list of persons.\n");
    }
    const Json& filters = JsonMember(e.fields, "filters");
    if (filters.is_object() && filters.contains("properties")) {
      absl::StrAppend(&out, "Persons who match: ", RenderCohortFilter(filters["properties"]), "\n");
    }
    return out;
  }

  Json Properties(const EntityRecord& e) const override {
    return {
        {"name", JsonText(e.fields, "name")},
        {"description", JsonText(e.fields, "description")},
        {"is_static", e.fields.value("is_static", false)},
        {"count",
         e.fields.contains("count") && e.fields["count"].is_number() ? e.fields["count"] : Json()}};
  }
};

}  // namespace

std::string RenderCohortFilter(const Json& node) {
  if (node.is_object() && node.contains("values") && node["values"].is_array()) {
    const std::string joiner = JsonText(node, "type") == "OR" ? " OR " : " AND ";
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
