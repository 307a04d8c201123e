// The sync status (workflows/sync/sync_status.h): what it counts matches what the ledger, the
// source and a following run say.
#include "tests/sync/sync_fixture.h"
#include "workflows/sync/sync_status.h"

namespace vecsync::workflows {
namespace {

class SyncStatusTest : public SyncTest {
 protected:
  DomainStatus Status(const std::vector<int64_t>& teams = {}) {
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.ok());
    absl::StatusOr<DomainStatus> status =
        ReadDomainStatus(**conn, **domains_.Find("action"), teams);
    EXPECT_TRUE(status.ok()) << status.status();
    return *status;
  }
  // Ids of `n` live actions of `team`, joined by commas.
  std::string Ids(int team, int n, int skip = 0) {
    auto conn = pool_->Acquire();
    auto r = (*conn)->Query(absl::StrCat(
        "SELECT string_agg(id::text, ',') FROM (SELECT id FROM posthog_action WHERE team_id = ",
        team, " AND NOT deleted ORDER BY id LIMIT ", n, " OFFSET ", skip, ") x"));
    EXPECT_TRUE(r.ok());
    return r->GetString(0, 0);
  }
};

TEST_F(SyncStatusTest, CountsWhatAReconcileRunThenSelects) {
  // Before any run: everything in scope is stale.
  DomainStatus status = Status();
  const int64_t live = static_cast<int64_t>(LiveKeys("posthog_action", "s.deleted").size());
  EXPECT_EQ(status.embedding_version, 0);
  EXPECT_EQ(status.totals.in_scope, live);
  EXPECT_EQ(status.totals.stale, live);
  EXPECT_EQ(status.totals.synced, 0);
  EXPECT_FALSE(status.last_run);

  Sync({{"domain", "action"}});
  status = Status();
  EXPECT_EQ(status.embedding_version, 1);
  ASSERT_TRUE(status.version);
  EXPECT_TRUE(status.version->active);
  EXPECT_EQ(status.totals.in_scope, live);
  EXPECT_EQ(status.totals.synced, live);
  EXPECT_EQ(status.totals.stale + status.totals.failed + status.totals.to_remove, 0);
  EXPECT_FALSE(status.totals.oldest_unsynced_change);
  ASSERT_TRUE(status.last_run);
  EXPECT_EQ(status.last_run->status, "COMPLETED");
  EXPECT_GT(status.last_run->result["summarized"].get<int64_t>(), 0);
  EXPECT_FALSE(status.running);

  // One entity the summarizer refuses: failed, retried by the next run.
  Exec("UPDATE posthog_action SET name = 'Refused', updated_at = now() WHERE id = " + Ids(6, 1));
  summarizer_.fail_marker = "Refused";
  Sync({{"domain", "action"}});
  summarizer_.fail_marker.clear();
  status = Status();
  EXPECT_EQ(status.totals.failed, 1);
  EXPECT_EQ(status.totals.stale, 0);

  // Edits, deletions and a withdrawn approval (organization 1: teams 1 and 2).
  const int64_t before_edits_us = QueryInt("SELECT (EXTRACT(EPOCH FROM now()) * 1e6)::bigint");
  Exec("UPDATE posthog_action SET name = name || ' (edited)', updated_at = now() WHERE id IN (" +
       Ids(4, 3) + ")");
  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id IN (" + Ids(5, 2) +
       ")");
  const int64_t withdrawn =
      QueryInt("SELECT count(*) FROM posthog_action WHERE team_id IN (1, 2) AND NOT deleted");
  Exec("UPDATE posthog_organization SET is_ai_data_processing_approved = false WHERE id = 1");
  status = Status();
  EXPECT_EQ(status.totals.stale, 3);
  EXPECT_EQ(status.totals.failed, 1);
  EXPECT_EQ(status.totals.to_remove, 2 + withdrawn);
  EXPECT_EQ(status.totals.in_scope, live - 2 - withdrawn);
  EXPECT_EQ(status.totals.synced, status.totals.in_scope - 3 - 1);
  ASSERT_TRUE(status.totals.oldest_unsynced_change);
  EXPECT_GE(absl::ToUnixMicros(*status.totals.oldest_unsynced_change), before_edits_us);

  // Per team, and for the teams asked for only.
  const DomainStatus team4 = Status({4});
  ASSERT_EQ(team4.teams.size(), 1u);
  EXPECT_EQ(team4.teams[0].team_id, 4);
  EXPECT_EQ(team4.totals.stale, 3);
  EXPECT_EQ(team4.totals.to_remove, 0);
  int64_t team_sum = 0;
  for (const TeamStatus& team : status.teams) team_sum += team.counts.stale + team.counts.to_remove;
  EXPECT_EQ(team_sum, 3 + 2 + withdrawn);

  // A reconcile run selects what the status counted, and leaves nothing to do.
  const Json reconciled = Sync({{"domain", "action"}, {"mode", "reconcile"}});
  EXPECT_EQ(reconciled["selected"],
            status.totals.stale + status.totals.failed + status.totals.to_remove);
  status = Status();
  EXPECT_EQ(status.totals.synced, status.totals.in_scope);
  EXPECT_EQ(status.totals.stale + status.totals.failed + status.totals.to_remove, 0);
  EXPECT_EQ(status.last_run->result, reconciled);
}

}  // namespace
}  // namespace vecsync::workflows
