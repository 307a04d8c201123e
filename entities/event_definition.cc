#include "entities/event_definition.h"

#include "absl/strings/str_cat.h"
#include "entities/posthog_scope.h"

namespace vecsync::entities {
namespace {

class EventDefinitionConfig : public EntityConfig {
 public:
  std::string domain() const override { return "event_definition"; }
  std::string table() const override { return "posthog_eventdefinition"; }
  std::string id_type() const override { return "uuid"; }
  std::string deleted_sql() const override { return "false"; }
  bool hard_deletes() const override { return true; }
  SourceScope scope() const override { return PostHogApprovedOrganizations(); }
  std::string fields_sql() const override {
    return "json_build_object('name', s.name, 'description', s.description)";
  }

  std::string summary_prompt() const override {
    return "Summarize this PostHog event definition for semantic search in at most three "
           "sentences: what the event records and when it is sent.";
  }

  std::string Render(const EntityRecord& e) const override {
    std::string out = absl::StrCat("Event: ", e.fields.value("name", ""), "\n");
    if (e.fields.contains("description") && e.fields["description"].is_string() &&
        !e.fields["description"].get<std::string>().empty()) {
      absl::StrAppend(&out, "Description: ", e.fields["description"].get<std::string>(), "\n");
    }
    return out;
  }

  Json Properties(const EntityRecord& e) const override {
    return {{"name", e.fields.value("name", "")},
            {"description", e.fields.contains("description") && e.fields["description"].is_string()
                                ? e.fields["description"]
                                : Json("")}};
  }
};

}  // namespace

std::unique_ptr<EntityConfig> NewEventDefinitionConfig() {
  return std::make_unique<EventDefinitionConfig>();
}

}  // namespace vecsync::entities
