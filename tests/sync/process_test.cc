// sync-entity-vectors, sync-process: what is summarized, reused, refreshed or queued, and what a
// retry redoes.
#include "absl/strings/str_split.h"
#include "src/clients/openai_client.h"
#include "tests/fake_provider.h"
#include "tests/sync/sync_fixture.h"

namespace vecsync::workflows {
namespace {

TEST_F(SyncTest, ARetriedSyncProcessWhoseAttemptCommittedQueuesNothingTwice) {
  // A failed run leaves its sync-process steps completed and their batches queued.
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);
  const std::string queued_rows = "SELECT sum(row_count) FROM vecsync.pending_batches";
  const int64_t queued = QueryInt(queued_rows);
  ASSERT_GT(queued, 0);
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto step = (*conn)->Query(
      "SELECT run_id::text, seq, input::text, result::text FROM vecsync.steps "
      "WHERE name = 'sync-process' AND status = 'COMPLETED' ORDER BY seq LIMIT 1");
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_EQ(step->rows(), 1);
  engine::ActivityInfo info;
  info.run_id = step->GetString(0, 0);
  info.seq = step->GetInt64(0, 1);
  info.activity_type = "sync-process";
  const Json input = Json::parse(step->GetString(0, 2));
  const engine::ActivityFunction* process = registry_->FindActivity("sync-process");
  ASSERT_NE(process, nullptr);

  // The engine retries an attempt that committed and died before it reported: the retry
  // returns what the attempt did, and queues nothing. One of its entities changed meanwhile,
  // and the provider is down: the retry asks it for nothing.
  Exec("UPDATE posthog_action SET name = name || ' (renamed)', updated_at = now() WHERE id = " +
       input["keys"][0][1].get<std::string>());
  summarizer_.fail_once_after = summarizer_.paid;
  const int summarized = summarizer_.items;
  info.attempt = 2;
  DirectActivityContext retry(info);
  absl::StatusOr<Json> retried = (*process)(retry, input);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, Json::parse(step->GetString(0, 3)));
  EXPECT_EQ(summarizer_.items, summarized) << "the retry of work done called the provider";
  EXPECT_EQ(QueryInt(queued_rows), queued) << "the retry queued the batch a second time";
  // An attempt numbered 1 again (a worker handed the activity back while it ran): the same.
  info.attempt = 1;
  DirectActivityContext handed_back(info);
  absl::StatusOr<Json> again = (*process)(handed_back, input);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *retried);
  EXPECT_EQ(QueryInt(queued_rows), queued);
}

TEST_F(SyncTest, APropertyOutsideTheSummaryIsRewrittenWithTheSameVectorAndNoProviderCall) {
  Sync({{"domain", "cohort"}});
  const int summarized = summarizer_.items;
  int embedded = embedder_.items;
  const std::string row_sql = "SELECT vector, properties FROM " + table_ +
                              " FINAL WHERE domain = 'cohort' AND id = '2' FORMAT TabSeparated";
  auto before = clickhouse_->Query(row_sql);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->empty());

  // A cohort's count changes as it is recalculated; it is a property, not part of the summary.
  Exec("UPDATE posthog_cohort SET count = 123456, updated_at = now() WHERE id = 2");
  Json result = Sync({{"domain", "cohort"}});
  EXPECT_EQ(result["refreshed"], 1);
  EXPECT_EQ(result["inserted"], 1);
  EXPECT_EQ(summarizer_.items, summarized) << "the rendered text did not change";
  EXPECT_EQ(embedder_.items, embedded) << "the vector is reused from ClickHouse";
  auto after = clickhouse_->Query(row_sql);
  ASSERT_TRUE(after.ok()) << after.status();
  const std::vector<std::string> was = absl::StrSplit(*before, '\t');
  const std::vector<std::string> now = absl::StrSplit(*after, '\t');
  ASSERT_EQ(now.size(), 2u) << *after;
  EXPECT_EQ(now[0], was[0]) << "same vector";
  EXPECT_NE(now[1].find("123456"), std::string::npos) << now[1];

  Json rerun = Sync({{"domain", "cohort"}});
  EXPECT_EQ(rerun["refreshed"], 0);
  EXPECT_EQ(rerun["inserted"], 0);

  // A newer row in ClickHouse than entity_state describes (a flush that inserted but did not
  // record it) is not the vector the state's hashes vouch for: embedded again, not reused.
  ASSERT_TRUE(clickhouse_
                  ->Execute("INSERT INTO " + table_ +
                            " (domain, team_id, id, vector, text, properties, timestamp, "
                            "is_deleted, embedding_version, version) SELECT domain, team_id, id, "
                            "arrayMap(x -> toFloat32(0), vector), text, properties, timestamp, "
                            "is_deleted, embedding_version, version + 5 FROM " +
                            table_ + " FINAL WHERE domain = 'cohort' AND id = '2'")
                  .ok());
  Exec("UPDATE posthog_cohort SET count = 8, updated_at = now() WHERE id = 2");
  Json stale = Sync({{"domain", "cohort"}});
  EXPECT_EQ(stale["refreshed"], 0);
  EXPECT_EQ(stale["embedded"], 1);
  EXPECT_EQ(embedder_.items, ++embedded);
  auto fixed = clickhouse_->Query(row_sql);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(*fixed, '\t'))[0], was[0])
      << "the embedder's vector replaced the zeros";

  // With the row gone from ClickHouse there is no vector to reuse: it is embedded again.
  ASSERT_TRUE(clickhouse_->Execute("TRUNCATE TABLE " + table_).ok());
  Exec("UPDATE posthog_cohort SET count = 7, updated_at = now() WHERE id = 2");
  Json lost = Sync({{"domain", "cohort"}});
  EXPECT_EQ(lost["refreshed"], 0);
  EXPECT_EQ(lost["embedded"], 1);
  EXPECT_EQ(embedder_.items, embedded + 1);
  EXPECT_EQ(summarizer_.items, summarized);
}

TEST_F(SyncTest, ALocalSummarizersSummariesAreRecordedWithTheirVectors) {
  summarizer_.is_local = true;
  Json first = Sync({{"domain", "cohort"}});
  ASSERT_GT(first["inserted"].get<int>(), 0);
  const std::string synced =
      "SELECT count(*) FROM vecsync.entity_state WHERE domain = 'cohort' AND synced_at IS NOT "
      "NULL AND NOT deleted";
  EXPECT_EQ(QueryInt(synced), first["inserted"].get<int>());
  EXPECT_EQ(QueryInt(synced + " AND (summary IS NULL OR content_hash IS NULL OR "
                              "summary_hash IS NULL)"),
            0);
  // Touched, not changed: the recorded summaries are reused, nothing is summarized again.
  const int summarized = summarizer_.items;
  Exec("UPDATE posthog_cohort SET updated_at = now()");
  Json touched = Sync({{"domain", "cohort"}});
  EXPECT_GT(touched["selected"].get<int>(), 0);
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(touched["embedded"], 0);
  EXPECT_EQ(touched["skipped_unchanged"], touched["selected"]);
}

TEST_F(SyncTest, AProviderFailureMidBatchNeverPaysTwiceForASummary) {
  summarizer_.fail_once_after = 40;  // In the first batch of 96, after two chunks of 16.
  Json result = Sync({{"domain", "action"}, {"max_parallel_requests", 1}});
  ASSERT_TRUE(summarizer_.failed);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(result["inserted"], live.size());
  // The retry reused the 32 summaries recorded before the failure; only the 8 of the chunk in
  // flight were paid twice (the whole batch's 40 were, when summaries were kept to the end).
  EXPECT_EQ(summarizer_.paid, static_cast<int>(live.size()) + 8);
}

TEST_F(SyncTest, NewEmbeddingVersionReembedsEverythingWithoutSummarizingAgain) {
  Json v1 = Sync({{"domain", "action"}});
  const int summarized = summarizer_.items, embedded = embedder_.items;
  Json v2 = Sync({{"domain", "action"}, {"embedding_version", 2}});
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded + v1["embedded"].get<int>());
  auto versions =
      clickhouse_->Query("SELECT DISTINCT embedding_version FROM " + table_ +
                         " FINAL WHERE domain = 'action' AND is_deleted = 0 ORDER BY 1");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, "1\n2\n") << "version 1 stays beside version 2";
  EXPECT_EQ(QueryInt("SELECT embedding_version FROM vecsync.active_versions WHERE domain = "
                     "'action'"),
            2)
      << "the run that completed version 2 made it active";
}

TEST_F(SyncTest, WithAMisbehavingOpenAiProviderNothingWrongIsStored) {
  testing::FakeProvider fake(16);
  clients::OpenAiOptions o;
  o.base_url = fake.base_url();
  o.dimensions = 16;
  o.timeout = absl::Seconds(2);
  auto summarizer = clients::OpenAiSummarizer::Create(o);
  auto embedder = clients::OpenAiEmbedder::Create(o);
  ASSERT_TRUE(summarizer.ok() && embedder.ok());
  env_.summarizer = summarizer->get();
  env_.embedder = embedder->get();
  // A 429 with retry-after and a 500 are retried; the third chat answer is malformed, so that
  // one entity fails and is recorded; every other one lands.
  fake.Control({{"chat_faults", {"429", "500", "none", "malformed"}}, {"retry_after_ms", 100}});
  Json first = Sync({{"domain", "cohort"}, {"max_parallel_requests", 1}});
  EXPECT_EQ(first["failed"], 1);
  const auto live = LiveKeys("posthog_cohort", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("cohort", 0).size(), live.size() - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures = 1"), 1);

  // Embeddings with the wrong dimensions and NaN, for the request and every half it is split
  // into (3 items take 5 requests): nothing is stored for those items, and the next clean run
  // repairs everything.
  Exec("UPDATE posthog_cohort SET description = 'changed', updated_at = now() WHERE id <= 3");
  fake.Control({{"faults", {"wrong_dims", "nan", "wrong_dims", "nan", "wrong_dims"}}});
  Json second = Sync({{"domain", "cohort"}, {"max_parallel_requests", 1}});
  EXPECT_GT(second["failed"].get<int>(), 0);
  fake.Control({{"faults", Json::array()}});
  auto dims = clickhouse_->Query("SELECT DISTINCT length(vector) FROM " + table_ +
                                 " WHERE domain = 'cohort' AND is_deleted = 0");
  ASSERT_TRUE(dims.ok());
  EXPECT_EQ(*dims, "16\n") << "no vector of the wrong size was stored";
  Json third = Sync({{"domain", "cohort"}});
  EXPECT_EQ(third["failed"], 0);
  EXPECT_EQ(ClickHouseKeys("cohort", 0), live);
}

TEST_F(SyncTest, TheDomainsPromptReachesTheSummarizerAndANewOneResummarizes) {
  summarizer_.reads_prompt = true;  // As a chat model does.
  auto add = [&](const std::string& name, const std::string& prompt) {
    ASSERT_TRUE(domains_
                    .Register(std::make_unique<TestActionConfig>(
                        name, entities::SourceScope{"", "s.team_id = 1", "", {}}, prompt))
                    .ok());
  };
  add("prompted_action", "Summarize this action for a search index.");
  const Json first = Sync({{"domain", "prompted_action"}});
  ASSERT_GT(first["summarized"].get<int>(), 0);
  EXPECT_EQ(summarizer_.last_prompt(), "Summarize this action for a search index.");
  // The built-in domains each have their own prompt.
  Sync({{"domain", "cohort"}});
  EXPECT_EQ(summarizer_.last_prompt(), domains_.Find("cohort").value()->summary_prompt());
  EXPECT_NE(summarizer_.last_prompt(), domains_.Find("action").value()->summary_prompt());

  // The same rows under another prompt: the prompt is part of the content hash, so every one is
  // summarized again; under the same prompt, none is.
  const int before = summarizer_.items;
  EXPECT_EQ(Sync({{"domain", "prompted_action"}, {"embedding_version", 2}})["summarized"], 0);
  EXPECT_EQ(summarizer_.items, before);
  Exec(
      "UPDATE vecsync.entity_state SET domain = 'reprompted_action' "
      "WHERE domain = 'prompted_action'");
  add("reprompted_action", "Describe this action in one sentence.");
  const Json again = Sync({{"domain", "reprompted_action"}});
  EXPECT_EQ(again["summarized"], first["summarized"]);
  EXPECT_EQ(summarizer_.last_prompt(), "Describe this action in one sentence.");
}

TEST_F(SyncTest, TheDomainDecidesTheTextEmbeddedAndTheLedgerKeepsTheSummary) {
  summarizer_.is_local = true;  // Its summaries reach the ledger with the flush.
  ASSERT_TRUE(domains_
                  .Register(std::make_unique<TestActionConfig>(
                      "labelled_action", entities::SourceScope{"", "s.team_id = 1", "", {}},
                      "Summarize.", "Action: "))
                  .ok());
  ASSERT_GT(Sync({{"domain", "labelled_action"}})["inserted"].get<int>(), 0);
  auto texts = clickhouse_->Query("SELECT DISTINCT substring(text, 1, 8) FROM " + table_ +
                                  " WHERE domain = 'labelled_action'");
  ASSERT_TRUE(texts.ok());
  EXPECT_EQ(*texts, "Action: \n") << "ClickHouse holds the text the domain embeds";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE domain = "
                     "'labelled_action' AND (summary LIKE 'Action: %' OR summary IS NULL)"),
            0)
      << "the ledger holds the summary, not the embedded text";
  EXPECT_EQ(Sync({{"domain", "labelled_action"}, {"entity_ids", {"1", "2"}}})["embedded"], 0)
      << "an unchanged text is not embedded again";
}

}  // namespace
}  // namespace vecsync::workflows
