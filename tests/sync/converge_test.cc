// sync-entity-vectors, converging to the desired state: what ClickHouse holds follows the source
// rows in scope even when no row's updated_at moves (approval granted or withdrawn, a team
// deleted, a row committed late, a database restored), and runs of one domain pay once.
#include "absl/strings/str_cat.h"
#include "tests/sync/sync_fixture.h"
#include "workflows/sync/change_queue.h"

namespace vecsync::workflows {
namespace {

// Organization 5 (teams 9 and 10) has not approved AI data processing; organization 1 (teams 1
// and 2) has.
constexpr char kLiveActions[] = "posthog_action";

TEST_F(SyncTest, AnOrganizationThatApprovesAiProcessingGetsItsEntitiesSyncedWithoutAnyEdit) {
  Sync({{"domain", "action"}});
  ASSERT_EQ(QueryInt("SELECT count(*) FROM posthog_action WHERE team_id IN (9, 10)") > 0, true);
  const int summarized = summarizer_.items;

  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = true WHERE id = 5");
  // The entered teams' rows were updated in the last minutes: the walk by change time rechecks
  // them too. Slow, parallel summaries would pay twice for each if the two walks overlapped.
  summarizer_.delay = absl::Milliseconds(20);
  const Json second = Sync({{"domain", "action"}, {"summarize_batch_size", 4}});

  const auto live = LiveKeys(kLiveActions, "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  const int64_t entered =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id IN (9, 10) AND NOT deleted");
  EXPECT_EQ(second["inserted"], entered);
  EXPECT_EQ(summarizer_.items, summarized + entered) << "only the teams that entered are paid for";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_changes"), 0)
      << "the run removed the changes it synced";
}

TEST_F(SyncTest, WithdrawnApprovalAndADeletedTeamAreTombstonedAndLeaveSearch) {
  Sync({{"domain", "action"}});
  const int64_t team1 =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id = 1 AND NOT deleted");
  const int64_t team3 =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id = 3 AND NOT deleted");
  ASSERT_GT(team1, 0);
  ASSERT_GT(team3, 0);
  const int summarized = summarizer_.items, embedded = embedder_.items;

  // Organization 1 (teams 1 and 2) withdraws its approval; team 3 is deleted, its rows with it.
  const int64_t team2 =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id = 2 AND NOT deleted");
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = false WHERE id = 1");
  Exec(
      "DELETE FROM posthog_action WHERE team_id = 3; DELETE FROM posthog_cohort WHERE team_id = 3; "
      "DELETE FROM posthog_eventdefinition WHERE team_id = 3; DELETE FROM posthog_team WHERE id = "
      "3");
  const Json second = Sync({{"domain", "action"}});

  EXPECT_EQ(second["tombstoned"], team1 + team2 + team3);
  EXPECT_EQ(summarizer_.items, summarized) << "tombstones need no LLM call";
  EXPECT_EQ(embedder_.items, embedded);
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys(kLiveActions, "s.deleted"));
  for (int64_t team : {1, 2, 3}) {
    SearchRequest req;
    req.domain = "action";
    req.team_id = team;
    req.query = embedder_.Embed({"Signed up"}).value()[0];
    req.limit = 50;
    auto hits = vectors_->Search(req);
    ASSERT_TRUE(hits.ok()) << hits.status();
    EXPECT_TRUE(hits->empty()) << "team " << team << " is out of scope, yet searchable";
  }
}

TEST_F(SyncTest, AScopeChangeSurvivesARunThatFailsAndTheNextRunSyncsIt) {
  Sync({{"domain", "action"}});
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = true WHERE id = 5");
  SyncWithARefusedKey();  // Noticed the change, then failed.
  Sync({{"domain", "action"}});
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys(kLiveActions, "s.deleted"));
}

TEST_F(SyncTest, ARowCommittedAfterTheSnapshotWithAnEarlierUpdatedAtIsStillSynced) {
  Sync({{"domain", "action"}});
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 1 AND NOT deleted");
  // A writer stamps the row, then commits after a sync has run: its updated_at is before that
  // sync's snapshot, and the watermark moves past it.
  auto writer = pool_->Acquire();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Execute("BEGIN").ok());
  ASSERT_TRUE((*writer)
                  ->Execute(absl::StrCat("UPDATE posthog_action SET name = 'Committed late', "
                                         "updated_at = now() WHERE id = ",
                                         id))
                  .ok());
  absl::SleepFor(absl::Milliseconds(20));
  Sync({{"domain", "action"}});
  ASSERT_TRUE((*writer)->Execute("COMMIT").ok());

  Sync({{"domain", "action"}});
  auto text = clickhouse_->Query(absl::StrCat(
      "SELECT text FROM ", table_, " FINAL WHERE domain = 'action' AND id = '", id, "'"));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("Committed late"), std::string::npos) << *text;
}

TEST_F(SyncTest, TwoConcurrentRunsOfADomainPayOnceForEachEntity) {
  embedder_.delay = absl::Milliseconds(30);  // Long enough for the runs to overlap.
  const auto first = Start(kSyncEntityVectorsWorkflow,
                           {{"domain", "action"}, {"summarize_batch_size", 8}}, "sync-a");
  const auto second = Start(kSyncEntityVectorsWorkflow,
                            {{"domain", "action"}, {"summarize_batch_size", 8}}, "sync-b");
  const ExecutionInfo a = WaitClosed(first, absl::Seconds(120));
  const ExecutionInfo b = WaitClosed(second, absl::Seconds(120));
  ASSERT_EQ(a.status, WorkflowStatus::kCompleted) << a.failure.dump();
  ASSERT_EQ(b.status, WorkflowStatus::kCompleted) << b.failure.dump();

  const auto live = LiveKeys(kLiveActions, "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(summarizer_.items, static_cast<int>(live.size())) << "a summary was paid for twice";
  EXPECT_EQ(embedder_.items, static_cast<int>(live.size())) << "an embedding was paid for twice";
  EXPECT_EQ(a.result["inserted"].get<int64_t>() + b.result["inserted"].get<int64_t>(),
            static_cast<int64_t>(live.size()));
}

TEST_F(SyncTest, ReconcileRepairsWhatNoWalkByChangeTimeSees) {
  Sync({{"domain", "action"}});
  // A restore from a backup: rows go back in time (updated_at moves backwards) or disappear
  // outright (the action domain soft-deletes, so no run looks for rows that vanished).
  Exec(
      "UPDATE posthog_action SET name = 'Restored ' || id, updated_at = updated_at - interval "
      "'2 days' WHERE id IN (SELECT id FROM posthog_action WHERE team_id = 2 AND NOT deleted "
      "ORDER BY id LIMIT 4)");
  Exec(
      "DELETE FROM posthog_action WHERE id IN (SELECT id FROM posthog_action WHERE team_id = 4 "
      "AND NOT deleted ORDER BY id LIMIT 3)");
  const int summarized = summarizer_.items;
  const Json incremental = Sync({{"domain", "action"}});
  EXPECT_EQ(incremental["selected"], 0) << "no walk by change time sees a restore";

  const Json reconciled =
      Sync({{"domain", "action"}, {"mode", "reconcile"}, {"summarize_batch_size", 5}});
  EXPECT_EQ(reconciled["selected"], 7);
  EXPECT_EQ(reconciled["tombstoned"], 3);
  EXPECT_EQ(summarizer_.items, summarized + 4) << "only what diverged is paid for";
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys(kLiveActions, "s.deleted"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM posthog_action WHERE name LIKE 'Restored %'"), 4);
  auto restored = clickhouse_->Query("SELECT count() FROM " + table_ +
                                     " FINAL WHERE domain = 'action' AND text LIKE '%Restored%'");
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(std::stoi(*restored), 4);

  const int after = summarizer_.items;
  const Json again = Sync({{"domain", "action"}, {"mode", "reconcile"}});
  EXPECT_EQ(again["selected"], 0) << "a reconcile of a converged domain selects nothing";
  EXPECT_EQ(summarizer_.items, after);
}

TEST_F(SyncTest, ReconcileTombstonesTheOldKeyOfARowMovedToAnotherTeam) {
  Sync({{"domain", "action"}});
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 1 AND NOT deleted");
  Exec(absl::StrCat("UPDATE posthog_action SET team_id = 2, updated_at = now() WHERE id = ", id));
  Sync({{"domain", "action"}, {"mode", "reconcile"}});
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys(kLiveActions, "s.deleted"));
  EXPECT_TRUE(ClickHouseKeys("action", 1).contains(absl::StrCat("1\t", id)))
      << "the row's key under its old team is a tombstone";
}

TEST_F(SyncTest, AChangesRunSyncsTheQueuedEntitiesOnly) {
  Sync({{"domain", "action"}});
  // An edit no walk by change time finds (its updated_at went backwards), queued as the change
  // feed queues what it decodes.
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 2 AND NOT deleted");
  Exec(
      absl::StrCat("UPDATE posthog_action SET name = 'Queued edit', updated_at = updated_at - "
                   "interval '1 day' WHERE id = ",
                   id));
  {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(
        ChangeQueue(**conn, "action").AddEntities({{{2, std::to_string(id)}, std::nullopt}}).ok());
  }
  const int summarized = summarizer_.items;
  const Json changes = Sync({{"domain", "action"}, {"mode", "changes"}});
  EXPECT_EQ(changes["selected"], 1);
  EXPECT_EQ(summarizer_.items, summarized + 1);
  auto text = clickhouse_->Query(absl::StrCat(
      "SELECT text FROM ", table_, " FINAL WHERE domain = 'action' AND id = '", id, "'"));
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("Queued edit"), std::string::npos) << *text;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_changes"), 0);
}

TEST_F(SyncTest, AChangeQueuedAgainWhileARunTakesItIsKeptForTheNextRun) {
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  ChangeQueue queue(**conn, "action");
  ASSERT_TRUE(queue.AddEntities({{{1, "7"}, absl::Now()}, {{1, "8"}, absl::Now()}}).ok());
  const int64_t upto = queue.NewestSeq().value();
  // The run has read entity 8; it changes again before the run removes what it synced.
  ASSERT_TRUE(queue.AddEntities({{{1, "8"}, std::nullopt}}).ok());
  ASSERT_TRUE(queue.Remove(upto).ok());
  auto left = queue.EntitiesAfter({-1, ""}, queue.NewestSeq().value(), 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0], (EntityKey{1, "8"}));
}

TEST_F(SyncTest, AModeThatIsNotKnownIsRejectedAtStart) {
  engine::StartWorkflowRequest req;
  req.workflow_type = kSyncEntityVectorsWorkflow;
  req.input = {{"domain", "action"}, {"mode", "all"}};
  auto r = client_->StartWorkflow(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("mode"), absl::string_view::npos) << r.status();
  req.input = {{"domain", "action"}, {"mode", "changes"}, {"team_ids", {1}}};
  EXPECT_EQ(client_->StartWorkflow(req).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vecsync::workflows
