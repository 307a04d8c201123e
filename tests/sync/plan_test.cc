// The plan of a reconcile run (workflows/sync/plan.h): it counts what the run then does, to the
// entity, and writes and pays for nothing.
#include "workflows/sync/plan.h"

#include "tests/sync/sync_fixture.h"
#include "workflows/sync/change_queue.h"

namespace vecsync::workflows {
namespace {

class SyncPlanTest : public SyncTest {
 protected:
  SyncPlan Plan(const std::string& domain) {
    absl::StatusOr<SyncPlan> plan = PlanReconcile(env_, domain, {});
    EXPECT_TRUE(plan.ok()) << plan.status();
    return *plan;
  }
  // What the vecsync tables hold: a plan must not change it.
  std::string State() {
    return absl::StrCat(QueryInt("SELECT count(*) FROM vecsync.entity_state"), "/",
                        QueryInt("SELECT count(*) FROM vecsync.pending_batches"), "/",
                        QueryInt("SELECT count(*) FROM vecsync.embedding_versions"), "/",
                        QueryInt("SELECT count(*) FROM vecsync.entity_changes"), "/",
                        QueryInt("SELECT COALESCE(sum(failures), 0) FROM vecsync.entity_state"));
  }
  // The plan's counts against the run's result.
  void ExpectRunMatches(const ProcessPlan& plan, const Json& run) {
    EXPECT_EQ(run["selected"], plan.selected) << run;
    EXPECT_EQ(run["summarized"], plan.summarize) << run;
    EXPECT_EQ(run["embedded"], plan.embed) << run;
    EXPECT_EQ(run["refreshed"], plan.refresh) << run;
    EXPECT_EQ(run["tombstoned"], plan.tombstone) << run;
    EXPECT_EQ(run["skipped_unchanged"], plan.unchanged) << run;
  }
  std::string Ids(const std::string& table, int team, int n) {
    auto conn = pool_->Acquire();
    auto r = (*conn)->Query(absl::StrCat("SELECT string_agg(id::text, ',') FROM (SELECT id FROM ",
                                         table, " WHERE team_id = ", team,
                                         " AND NOT deleted ORDER BY id LIMIT ", n, ") x"));
    EXPECT_TRUE(r.ok());
    return r->GetString(0, 0);
  }
};

TEST_F(SyncPlanTest, APlanCountsWhatTheReconcileRunThenDoesAndPaysForNothing) {
  Sync({{"domain", "action"}});
  // One entity the summarizer refuses: failed, retried by the next run.
  Exec("UPDATE posthog_action SET name = 'Refused', updated_at = now() WHERE id = " +
       Ids("posthog_action", 6, 1));
  summarizer_.fail_marker = "Refused";
  Sync({{"domain", "action"}});
  summarizer_.fail_marker.clear();

  // Edits (new summaries), a touch that changes nothing but updated_at, deletions, a withdrawn
  // approval (organization 1) and a granted one (organization 5).
  Exec("UPDATE posthog_action SET name = name || ' (edited)', updated_at = now() WHERE id IN (" +
       Ids("posthog_action", 4, 3) + ")");
  Exec("UPDATE posthog_action SET updated_at = now() WHERE id = " + Ids("posthog_action", 7, 1));
  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id IN (" +
       Ids("posthog_action", 5, 2) + ")");
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = false WHERE id = 1");
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = true WHERE id = 5");
  const int64_t withdrawn =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id IN (1, 2) AND NOT deleted");
  const int64_t granted =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id IN (9, 10) AND NOT deleted");

  const std::string before = State();
  const int summaries = summarizer_.items, embeddings = embedder_.items;
  const SyncPlan plan = Plan("action");
  EXPECT_EQ(State(), before) << "a plan writes nothing";
  EXPECT_EQ(summarizer_.items, summaries) << "a plan pays for nothing";
  EXPECT_EQ(embedder_.items, embeddings);
  EXPECT_EQ(plan.embedding_version, 1);
  EXPECT_FALSE(plan.new_version);
  EXPECT_EQ(plan.counts.summarize, 3 + 1 + granted);
  EXPECT_EQ(plan.counts.tombstone, 2 + withdrawn);
  EXPECT_GT(plan.counts.unchanged, 0);
  EXPECT_GT(plan.counts.prompt_tokens, plan.counts.summarize);
  // The entered teams' entities have no summary to measure a new one by; the edited ones had.
  EXPECT_GT(plan.counts.completion_tokens, granted * kEstimatedSummaryTokens);
  EXPECT_LT(plan.counts.completion_tokens, plan.counts.summarize * kEstimatedSummaryTokens);

  const Json run = Sync({{"domain", "action"}, {"mode", "reconcile"}});
  ExpectRunMatches(plan.counts, run);
  EXPECT_EQ(summarizer_.items - summaries, plan.counts.summarize) << "paid as planned";
  // Converged: the next plan has nothing to do, the touched row included (the run recorded its
  // new updated_at).
  const SyncPlan after = Plan("action");
  EXPECT_EQ(after.counts.selected, 0);
}

// A failed entity that is also queued is processed twice by the run (the retry and the queued
// phase read the ledger and the queue), the second time finding nothing to do.
TEST_F(SyncPlanTest, AFailedEntityAlsoQueuedCountsTwiceAsTheRunDoesIt) {
  Sync({{"domain", "action"}});
  const std::string failed = Ids("posthog_action", 6, 1);
  Exec("UPDATE posthog_action SET name = 'Refused', updated_at = now() WHERE id = " + failed);
  summarizer_.fail_marker = "Refused";
  Sync({{"domain", "action"}});
  summarizer_.fail_marker.clear();
  {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(ChangeQueue(**conn, "action").AddEntities({{{6, failed}, std::nullopt}}).ok());
  }
  const SyncPlan plan = Plan("action");
  EXPECT_EQ(plan.counts.selected, 2);
  EXPECT_EQ(plan.counts.summarize, 1);
  EXPECT_EQ(plan.counts.unchanged, 1);
  ExpectRunMatches(plan.counts, Sync({{"domain", "action"}, {"mode", "reconcile"}}));
}

TEST_F(SyncPlanTest, PropertiesAloneAreRefreshedWithoutAnEmbedding) {
  Sync({{"domain", "cohort"}});
  Exec(
      "UPDATE posthog_cohort SET count = COALESCE(count, 0) + 7, updated_at = now() WHERE id IN (" +
      Ids("posthog_cohort", 3, 2) + ")");
  const SyncPlan plan = Plan("cohort");
  EXPECT_EQ(plan.counts.refresh, 2);
  EXPECT_EQ(plan.counts.summarize + plan.counts.embed, 0);
  ExpectRunMatches(plan.counts, Sync({{"domain", "cohort"}, {"mode", "reconcile"}}));
}

TEST_F(SyncPlanTest, ANewSummarizerPlansANewVersionAndReSummarizesEverything) {
  Sync({{"domain", "action"}});
  summarizer_.set_model_suffix("[model B]");
  const SyncPlan plan = Plan("action");
  EXPECT_TRUE(plan.new_version);
  EXPECT_EQ(plan.embedding_version, 2);
  const int64_t live = static_cast<int64_t>(LiveKeys("posthog_action", "s.deleted").size());
  EXPECT_EQ(plan.counts.summarize, live);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.embedding_versions"), 1)
      << "the plan made no version";
  ExpectRunMatches(plan.counts, Sync({{"domain", "action"}, {"mode", "reconcile"}}));
}

}  // namespace
}  // namespace vecsync::workflows
