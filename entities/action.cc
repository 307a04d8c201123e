#include "entities/action.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "entities/posthog_scope.h"
#include "entities/property_filter.h"

namespace vecsync::entities {
namespace {

// "exact" → "exactly matches", "contains" → "contains", "regex" → "matches regex".
std::string Matching(const std::string& kind, const std::string& fallback) {
  const std::string k = kind.empty() ? fallback : kind;
  if (k == "exact") return "exactly matches";
  if (k == "regex") return "matches regex";
  return "contains";
}

class ActionConfig : public EntityConfig {
 public:
  std::string domain() const override { return "action"; }
  std::string table() const override { return "posthog_action"; }
  SourceScope scope() const override { return PostHogApprovedOrganizations(); }
  std::string fields_sql() const override {
    return "json_build_object('name', s.name, 'description', s.description, "
           "'steps', s.steps_json)";
  }

  std::string summary_prompt() const override {
    return "Summarize this PostHog action for semantic search in at most three sentences: what "
           "user behaviour it captures, and which events, elements or pages make it match.";
  }

  std::string Render(const EntityRecord& e) const override {
    std::string out = absl::StrCat("Name: ", JsonText(e.fields, "name"), "\n");
    if (!JsonText(e.fields, "description").empty()) {
      absl::StrAppend(&out, "Description: ", JsonText(e.fields, "description"), "\n");
    }
    const Json& steps = JsonMember(e.fields, "steps");
    if (steps.is_array() && !steps.empty()) {
      std::vector<std::string> groups;
      for (size_t i = 0; i < steps.size(); ++i) {
        groups.push_back(absl::StrCat("Match group ", i + 1, ": ", RenderActionStep(steps[i])));
      }
      absl::StrAppend(&out, absl::StrJoin(groups, "\nOR\n"), "\n");
    }
    return out;
  }

  Json Properties(const EntityRecord& e) const override {
    return {{"name", JsonText(e.fields, "name")},
            {"description", JsonText(e.fields, "description")}};
  }
};

}  // namespace

std::string RenderActionStep(const Json& step) {
  std::vector<std::string> conditions;
  if (!JsonText(step, "event").empty()) {
    conditions.push_back(absl::StrCat("event is `", JsonText(step, "event"), "`"));
  }
  if (!JsonText(step, "selector").empty()) {
    conditions.push_back(
        absl::StrCat("element matches HTML selector `", JsonText(step, "selector"), "`"));
  }
  if (!JsonText(step, "tag_name").empty()) {
    conditions.push_back(absl::StrCat("element tag is `", JsonText(step, "tag_name"), "`"));
  }
  if (!JsonText(step, "text").empty()) {
    conditions.push_back(absl::StrCat("element text ",
                                      Matching(JsonText(step, "text_matching"), "exact"), " `",
                                      JsonText(step, "text"), "`"));
  }
  if (!JsonText(step, "href").empty()) {
    conditions.push_back(absl::StrCat("element `href` attribute ",
                                      Matching(JsonText(step, "href_matching"), "exact"), " `",
                                      JsonText(step, "href"), "`"));
  }
  if (!JsonText(step, "url").empty()) {
    conditions.push_back(absl::StrCat("URL ", Matching(JsonText(step, "url_matching"), "contains"),
                                      " `", JsonText(step, "url"), "`"));
  }
  if (step.is_object() && step.contains("properties") && step["properties"].is_array()) {
    for (const Json& p : step["properties"]) conditions.push_back(RenderPropertyFilter(p, "event"));
  }
  if (conditions.empty()) return "any event";
  return absl::StrJoin(conditions, " AND ");
}

std::unique_ptr<EntityConfig> NewActionConfig() { return std::make_unique<ActionConfig>(); }

}  // namespace vecsync::entities
