// sync-entity-vectors, the ledger: failures recorded per item, retried, quarantined, cleared, and
// never undone by an older row.
#include "workflows/sync/ledger.h"

#include "absl/strings/str_cat.h"
#include "tests/sync/sync_fixture.h"
#include "workflows/sync/failed_entities.h"

namespace vecsync::workflows {
namespace {

TEST_F(SyncTest, AnOlderRowLeftQueuedNeverClearsTheFailureOfANewerVersion) {
  // A failed run leaves every action queued. Action 1 then changes, and its new content fails
  // to summarize: the next run records the failure, and its final flush finds the older row of
  // action 1 the failed run left.
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  ASSERT_EQ(QueryInt("SELECT count(*) FROM posthog_action WHERE id = 1 AND NOT deleted"), 1);
  Exec("UPDATE posthog_action SET name = 'Renamed once', updated_at = now() WHERE id = 1");
  summarizer_.fail_marker = "Renamed once";
  Json failed = Sync({{"domain", "action"}, {"entity_ids", {"1"}}});
  EXPECT_EQ(failed["failed"], 1);
  EXPECT_EQ(failed["carried_over"], live.size()) << "the older row of action 1 is inserted too";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '1'"),
            1)
      << "the older row, flushed after the newer one failed, must not clear the failure";

  // The next run retries it, and ClickHouse ends with the new content.
  summarizer_.fail_marker.clear();
  Json retried = Sync({{"domain", "action"}});
  EXPECT_EQ(retried["embedded"], 1);
  auto text = clickhouse_->Query("SELECT text FROM " + table_ +
                                 " FINAL WHERE domain = 'action' AND id = '1'");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("Renamed once"), std::string::npos) << *text;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures > 0"), 0);
}

TEST_F(SyncTest, AFailingItemIsIsolatedRetriedAndQuarantined) {
  summarizer_.fail_marker = "#7\n";  // Action 7's rendered name ends in "#7".
  Json first = Sync({{"domain", "action"}});
  EXPECT_EQ(first["failed"], 1);
  EXPECT_EQ(ClickHouseKeys("action", 0).size(), LiveKeys("posthog_action", "s.deleted").size() - 1);
  for (int run = 2; run <= kMaxEntityFailures; ++run) Sync({{"domain", "action"}});
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '7'"),
            kMaxEntityFailures);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE quarantined"), 1);
  const int before = summarizer_.items;
  Sync({{"domain", "action"}});
  EXPECT_EQ(summarizer_.items, before) << "a quarantined entity is not retried";

  // `vecsync entities failed --retry`: listed, then retried by the next run, which now succeeds.
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto failed = ListFailedEntities(**conn, "action", /*quarantined_only=*/true);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].entity_id, "7");
  EXPECT_EQ((*failed)[0].last_error, "the model refused");
  EXPECT_EQ(RetryFailedEntities(**conn, "action", true).value(), 1);
  summarizer_.fail_marker.clear();
  Json retried = Sync({{"domain", "action"}});
  EXPECT_EQ(retried["summarized"], 1);
  EXPECT_EQ(retried["inserted"], 1);
  EXPECT_TRUE(ListFailedEntities(**conn, "action", false).value().empty());
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

TEST_F(SyncTest, AFailedEntityDeletedBeforeItWasSyncedIsNoLongerRetried) {
  summarizer_.fail_marker = "#7\n";  // Action 7's rendered name ends in "#7".
  ASSERT_EQ(Sync({{"domain", "action"}})["failed"], 1);
  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id = 7");
  Json deleted = Sync({{"domain", "action"}});
  EXPECT_GE(deleted["selected"].get<int>(), 1);  // By the retry phase, and as changed.
  EXPECT_EQ(deleted["skipped_unchanged"], deleted["selected"]);
  EXPECT_EQ(deleted["tombstoned"], 0) << "it never reached ClickHouse";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '7'"),
            0);
  // Nothing is left to retry: the next run selects nothing.
  EXPECT_EQ(Sync({{"domain", "action"}})["selected"], 0);
  // Back again, it syncs as any changed entity does.
  summarizer_.fail_marker.clear();
  Exec("UPDATE posthog_action SET deleted = false, updated_at = now() WHERE id = 7");
  Json back = Sync({{"domain", "action"}});
  EXPECT_EQ(back["inserted"], 1);
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

TEST_F(SyncTest, AFailedEntityHardDeletedBeforeItWasSyncedIsNoLongerSelected) {
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto picked = (*conn)->Query(
      "SELECT id::text, name FROM posthog_eventdefinition WHERE team_id <= 8 ORDER BY name "
      "LIMIT 1");
  ASSERT_TRUE(picked.ok() && picked->rows() == 1);
  const std::string id(picked->Get(0, 0));
  summarizer_.fail_marker = absl::StrCat("Event: ", picked->Get(0, 1), "\n");
  ASSERT_EQ(Sync({{"domain", "event_definition"}})["failed"], 1);
  Exec("DELETE FROM posthog_eventdefinition WHERE id = '" + id + "'");
  Json gone = Sync({{"domain", "event_definition"}});
  EXPECT_GE(gone["selected"].get<int>(), 1);
  EXPECT_EQ(gone["skipped_unchanged"], gone["selected"]);
  EXPECT_EQ(gone["tombstoned"], 0) << "it never reached ClickHouse";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = "
                     "'event_definition' AND entity_id = '" +
                     id + "'"),
            0);
  // Neither the retry phase nor the hard-deleted one selects it again.
  EXPECT_EQ(Sync({{"domain", "event_definition"}})["selected"], 0);
  EXPECT_EQ(ClickHouseKeys("event_definition", 0), LiveKeys("posthog_eventdefinition", "false"));
}

}  // namespace
}  // namespace vecsync::workflows
