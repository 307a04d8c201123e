// Entity configs: registry rules and how each domain renders for the summarizer.
#include <gtest/gtest.h>

#include "entities/action.h"
#include "entities/cohort.h"
#include "entities/property_filter.h"
#include "entities/registry.h"

namespace vecsync::entities {
namespace {

TEST(EntityConfigRegistryTest, KnowsTheBuiltInDomainsAndNamesThemForAnUnknownOne) {
  const EntityConfigRegistry registry = EntityConfigRegistry::BuiltIn();
  EXPECT_EQ(registry.Domains(), (std::vector<std::string>{"action", "cohort", "event_definition"}));
  auto missing = registry.Find("notebook");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("action, cohort, event_definition"),
            absl::string_view::npos)
      << missing.status();
  EntityConfigRegistry own;
  ASSERT_TRUE(own.Register(NewActionConfig()).ok());
  EXPECT_EQ(own.Register(NewActionConfig()).code(), absl::StatusCode::kAlreadyExists);
}

TEST(ActionConfigTest, RendersStepsAsPostHogMatchGroupsJoinedByOr) {
  auto config = NewActionConfig();
  EntityRecord e;
  e.fields = Json::parse(R"({
    "name": "Signed up", "description": "Completed the form",
    "steps": [
      {"event": "$autocapture", "selector": "button.cta", "text": "Sign up",
       "text_matching": "exact", "url": "/signup", "url_matching": "contains"},
      {"event": "$pageview", "href": "/pro", "href_matching": "contains",
       "properties": [{"key": "$browser", "value": "Chrome", "operator": "exact",
                       "type": "event"}]}]})");
  EXPECT_EQ(config->Render(e),
            "Name: Signed up\n"
            "Description: Completed the form\n"
            "Match group 1: event is `$autocapture` AND element matches HTML selector "
            "`button.cta` AND element text exactly matches `Sign up` AND URL contains `/signup`\n"
            "OR\n"
            "Match group 2: event is `$pageview` AND element `href` attribute contains `/pro` AND "
            "event property `$browser` is `Chrome`\n");
  EXPECT_EQ(config->Properties(e),
            (Json{{"name", "Signed up"}, {"description", "Completed the form"}}));
}

TEST(ActionConfigTest, NullDescriptionAndNoStepsStillRender) {
  EntityRecord e;
  e.fields = {{"name", "Bare"}, {"description", nullptr}, {"steps", nullptr}};
  EXPECT_EQ(NewActionConfig()->Render(e), "Name: Bare\n");
  EXPECT_EQ(NewActionConfig()->Properties(e)["description"], "");
}

TEST(CohortConfigTest, RendersTheNestedFilterTree) {
  Json tree = Json::parse(R"({"type": "OR", "values": [
      {"type": "AND", "values": [
        {"type": "person", "key": "email", "operator": "icontains", "value": "@acme.com"},
        {"type": "behavioral", "key": "purchase", "value": "performed_event",
         "time_value": 7, "time_interval": "day"}]},
      {"type": "AND", "values": [{"type": "person", "key": "plan", "value": "pro"}]}]})");
  EXPECT_EQ(RenderCohortFilter(tree),
            "(person property `email` contains `@acme.com` AND performed event `purchase` in the "
            "last 7 days) OR (person property `plan` is `pro`)");
  EntityRecord e;
  e.fields = {{"name", "Buyers"},
              {"description", nullptr},
              {"filters", {{"properties", tree}}},
              {"is_static", false},
              {"count", 12}};
  Json props = NewCohortConfig()->Properties(e);
  EXPECT_EQ(props["is_static"], false);
  EXPECT_EQ(props["count"], 12);
}

TEST(PropertyFilterTest, RendersOperatorsOwnersAndNegation) {
  EXPECT_EQ(RenderPropertyFilter({{"key", "plan"}, {"value", "pro"}}, "person"),
            "person property `plan` is `pro`");
  EXPECT_EQ(RenderPropertyFilter({{"key", "$os"}, {"operator", "is_not_set"}, {"type", "event"}},
                                 "person"),
            "event property `$os` is not set");
  EXPECT_EQ(RenderPropertyFilter(
                {{"key", "email"}, {"operator", "icontains"}, {"value", "@x"}, {"negation", true}},
                "person"),
            "NOT (person property `email` contains `@x`)");
}

}  // namespace
}  // namespace vecsync::entities
