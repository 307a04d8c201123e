// sync-entity-vectors, the change feed: commits reach ClickHouse within seconds with no run
// started by hand (logical replication, pgoutput), scope changes fan out, bursts of edits are
// coalesced, and where replication is not allowed the feed says why and stays off.
#include "workflows/sync/change_feed.h"

#include "absl/strings/str_cat.h"
#include "src/common/metrics.h"
#include "tests/sync/sync_fixture.h"
#include "tests/test_env.h"

namespace vecsync::workflows {
namespace {

class ChangeFeedTest : public SyncTest {
 protected:
  void TearDown() override {
    feed_.reset();
    auto conn = pool_->Acquire();
    if (conn.ok()) {
      EXPECT_TRUE(DropLogicalReplication(**conn).ok());
    }
    SyncTest::TearDown();
  }

  // Starts the feed as `url`'s role and waits until it streams (or, with `expect_streaming`
  // false, until it gives up).
  void StartFeed(const std::string& url = testing::TestDatabaseUrl(),
                 bool expect_streaming = true) {
    ChangeFeedOptions options;
    options.pg_url = url;
    options.quiet = absl::Milliseconds(200);
    options.max_delay = absl::Seconds(1);
    options.retry_interval = absl::Milliseconds(200);
    feed_ = std::make_unique<ChangeFeed>(options, &domains_, client_.get());
    feed_->Start();
    const ChangeFeed::State wanted =
        expect_streaming ? ChangeFeed::State::kStreaming : ChangeFeed::State::kUnavailable;
    ASSERT_TRUE(testing::WaitUntil([&] { return feed_->state() == wanted; }, absl::Seconds(20)))
        << "the feed did not reach the state wanted: " << feed_->reason();
  }

  // The text ClickHouse holds for action `id`.
  std::string ActionText(int64_t id) {
    auto text = clickhouse_->Query(absl::StrCat(
        "SELECT text FROM ", table_, " FINAL WHERE domain = 'action' AND id = '", id, "'"));
    return text.ok() ? *text : "";
  }

  std::unique_ptr<ChangeFeed> feed_;
};

TEST_F(ChangeFeedTest, AnEditReachesClickHouseWithinSecondsWithNoRunStartedByHand) {
  Sync({{"domain", "action"}});
  StartFeed();
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 1 AND NOT deleted");
  // Even an edit that does not move updated_at: the feed reads commits, not timestamps.
  Exec(absl::StrCat("UPDATE posthog_action SET name = 'Edited through the feed' WHERE id = ", id));
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return ActionText(id).find("Edited through the feed") != std::string::npos; },
      absl::Seconds(30)))
      << ActionText(id);
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return QueryInt("SELECT count(*) FROM vecsync.entity_changes") == 0; },
      absl::Seconds(10)))
      << "the run that synced the change removes it from the queue";
  // Its latency, from the commit the feed saw to the end of the run that synced it.
  const std::string metrics = metrics::RenderAll();
  EXPECT_NE(metrics.find("vecsync_sync_commit_to_clickhouse_seconds_count{domain=\"action\"}"),
            std::string::npos)
      << metrics;
}

TEST_F(ChangeFeedTest, ApprovalGrantedOrWithdrawnAndATeamDeletedFanOutThroughTheFeed) {
  Sync({{"domain", "action"}});
  StartFeed();
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = true WHERE id = 5");
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = false WHERE id = 1");
  Exec(
      "DELETE FROM posthog_action WHERE team_id = 3; DELETE FROM posthog_cohort WHERE team_id = 3; "
      "DELETE FROM posthog_eventdefinition WHERE team_id = 3; DELETE FROM posthog_team WHERE id = "
      "3");
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_TRUE(
      testing::WaitUntil([&] { return ClickHouseKeys("action", 0) == live; }, absl::Seconds(60)))
      << ClickHouseKeys("action", 0).size() << " live in ClickHouse, " << live.size()
      << " in scope";
}

TEST_F(ChangeFeedTest, FiftyEditsOfOneEntityWithinTwoSecondsCostAtMostTwoSummaries) {
  for (const char* domain : {"action", "cohort", "event_definition"}) Sync({{"domain", domain}});
  StartFeed();
  // The feed's first runs (one per domain, for what changed while it was off) find nothing.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return QueryInt("SELECT count(*) FROM vecsync.executions WHERE status = 'RUNNING'") == 0;
      },
      absl::Seconds(30)));
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 2 AND NOT deleted");
  const int before = summarizer_.items;
  for (int i = 1; i <= 50; ++i) {
    Exec(absl::StrCat("UPDATE posthog_action SET name = 'Burst edit ", i, "' WHERE id = ", id));
    absl::SleepFor(absl::Milliseconds(40));
  }
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return ActionText(id).find("Burst edit 50") != std::string::npos; }, absl::Seconds(30)))
      << ActionText(id);
  EXPECT_LE(summarizer_.items - before, 2);
  EXPECT_GE(summarizer_.items - before, 1);
}

TEST_F(ChangeFeedTest, ARoleThatMayNotPublishTheTablesGetsAReasonAndTheFeedStaysOff) {
  const std::string role = absl::StrCat("vecsync_no_publish_", getpid());
  // A role that reads the source tables, as a read-only replica user would, and owns none. (The
  // tests' tables are in the schema of the user that made them, vecsync.)
  Exec(absl::StrCat("DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role, " LOGIN; ALTER ROLE ",
                    role, " SET search_path = vecsync, public; GRANT USAGE ON SCHEMA vecsync TO ",
                    role, "; GRANT SELECT ON ALL TABLES IN SCHEMA vecsync TO ", role));
  const std::string url = testing::TestDatabaseUrl();
  // postgresql://user@host… → the role instead of the user.
  const size_t at = url.find('@'), scheme = url.find("://") + 3;
  StartFeed(url.substr(0, scheme) + role + url.substr(at), /*expect_streaming=*/false);
  EXPECT_NE(feed_->reason().find("logical replication is not available"), std::string::npos)
      << feed_->reason();
  EXPECT_NE(feed_->reason().find("polls instead"), std::string::npos) << feed_->reason();
  feed_.reset();
  Exec(absl::StrCat("DROP OWNED BY ", role, "; DROP ROLE ", role));
}

}  // namespace
}  // namespace vecsync::workflows
