// sync-entity-vectors, selection: what a run looks at, and that it looks at nothing when nothing
// changed.
#include "absl/strings/match.h"
#include "tests/sync/sync_fixture.h"

namespace vecsync::workflows {
namespace {

TEST_F(SyncTest, RerunWithoutChangesCallsNoProviderAndChangingOneCallsOnce) {
  Sync({{"domain", "cohort"}});
  const int summarized = summarizer_.items, embedded = embedder_.items;
  ASSERT_GT(summarized, 0);
  Json rerun = Sync({{"domain", "cohort"}});
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded);
  EXPECT_EQ(rerun["selected"], 0) << "the watermark keeps a no-op rerun from scanning";

  Exec("UPDATE posthog_cohort SET name = 'Renamed', updated_at = now() WHERE id = 2");
  Json one = Sync({{"domain", "cohort"}});
  EXPECT_EQ(summarizer_.items, summarized + 1);
  EXPECT_EQ(embedder_.items, embedded + 1);
  EXPECT_EQ(one["inserted"], 1);
  auto text = clickhouse_->Query("SELECT text FROM " + table_ +
                                 " FINAL WHERE domain = 'cohort' AND id = '2'");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("Renamed"), std::string::npos) << *text;
}

TEST_F(SyncTest, TheDomainsScopeAloneDecidesWhichRowsAreSynced) {
  // Team 9's organization has not approved AI processing: no PostHog domain syncs it. A domain
  // whose scope is "team 9" does: the workflow holds no scope of its own.
  ASSERT_TRUE(
      domains_
          .Register(std::make_unique<TestActionConfig>(
              "team9_action", entities::SourceScope{"", "s.team_id = 9", "", {}}, "Summarize."))
          .ok());
  const Json result = Sync({{"domain", "team9_action"}});
  std::set<std::string> team9;
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto rows =
      (*conn)->Query("SELECT id::text FROM posthog_action WHERE team_id = 9 AND NOT deleted");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_GT(rows->rows(), 0);
  for (int i = 0; i < rows->rows(); ++i) team9.insert("9\t" + rows->GetString(i, 0));
  EXPECT_EQ(ClickHouseKeys("team9_action", 0), team9);
  EXPECT_EQ(result["inserted"], team9.size());
  // The PostHog domain, scoped to approved organizations, leaves team 9 out.
  Sync({{"domain", "action"}});
  for (const std::string& key : ClickHouseKeys("action", 0)) {
    EXPECT_FALSE(absl::StartsWith(key, "9\t")) << key;
  }
}

TEST_F(SyncTest, HardDeletedEventDefinitionsBecomeTombstones) {
  Sync({{"domain", "event_definition"}});
  Exec(
      "DELETE FROM posthog_eventdefinition WHERE id IN (SELECT id FROM posthog_eventdefinition "
      "WHERE team_id <= 8 ORDER BY name LIMIT 2)");
  Json second = Sync({{"domain", "event_definition"}});
  EXPECT_EQ(second["tombstoned"], 2);
  EXPECT_EQ(ClickHouseKeys("event_definition", 0), LiveKeys("posthog_eventdefinition", "false"));
  EXPECT_EQ(ClickHouseKeys("event_definition", 1).size(), 2u);
}

}  // namespace
}  // namespace vecsync::workflows
