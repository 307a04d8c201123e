// sync-entity-vectors, embedding versions side by side: a run under another profile builds a new
// version without touching the active one, search answers from the active version only, the new
// one becomes active when complete, and the previous one can be made active again.
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "src/api/api_server.h"
#include "src/api/search_service.h"
#include "tests/sync/sync_fixture.h"
#include "workflows/sync/embedding_versions.h"

namespace vecsync::workflows {
namespace {

class VersionsTest : public SyncTest {
 protected:
  int Active() {
    return static_cast<int>(
        QueryInt("SELECT embedding_version FROM vecsync.active_versions WHERE domain = 'action'"));
  }

  // The texts search finds for team 1's actions in the active version, as SearchService asks.
  std::vector<std::string> SearchTexts() {
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.ok());
    SearchRequest req;
    req.domain = "action";
    req.team_id = 1;
    req.embedding_version = ActiveEmbeddingVersion(**conn, "action").value();
    req.query = env_.embedder->Embed({"Signed up"}).value()[0];
    req.limit = 100;
    auto hits = vectors_->Search(req);
    EXPECT_TRUE(hits.ok()) << hits.status();
    std::vector<std::string> texts;
    for (const SearchHit& hit : hits.value_or(std::vector<SearchHit>{})) texts.push_back(hit.text);
    return texts;
  }

  int64_t RowsOfVersion(int version) {
    auto n = clickhouse_->Query(absl::StrCat("SELECT count() FROM ", table_,
                                             " FINAL WHERE domain = 'action' AND is_deleted = 0 "
                                             "AND embedding_version = ",
                                             version));
    EXPECT_TRUE(n.ok());
    return n.ok() ? std::stoll(*n) : -1;
  }
};

TEST_F(VersionsTest, ANewSummarizerBuildsANewVersionAndSearchMovesToItOnlyWhenItIsComplete) {
  Sync({{"domain", "action"}});
  ASSERT_EQ(Active(), 1);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  const std::vector<std::string> before = SearchTexts();
  ASSERT_FALSE(before.empty());
  const int summarized = summarizer_.items;

  // The summarizer changes. A run of one team builds part of version 2: search stays on 1.
  summarizer_.set_model_suffix("[model B]");
  Sync({{"domain", "action"}, {"team_ids", {1}}});
  EXPECT_EQ(Active(), 1) << "a version is not searched before it is complete";
  EXPECT_EQ(SearchTexts(), before);
  EXPECT_GT(RowsOfVersion(2), 0);
  EXPECT_EQ(RowsOfVersion(1), static_cast<int64_t>(live.size())) << "version 1 is untouched";

  // A run of the whole domain completes version 2, which becomes active at once.
  Sync({{"domain", "action"}});
  EXPECT_EQ(Active(), 2);
  EXPECT_EQ(summarizer_.items, summarized + static_cast<int>(live.size()))
      << "a summarizer change re-summarizes every entity once";
  const std::vector<std::string> after = SearchTexts();
  ASSERT_FALSE(after.empty());
  for (const std::string& text : after) {
    EXPECT_NE(text.find("[model B]"), std::string::npos) << text;
  }
  EXPECT_EQ(RowsOfVersion(1), static_cast<int64_t>(live.size()));

  // The previous version can be made active again.
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(ActivateEmbeddingVersion(**conn, "action", 1).ok());
  EXPECT_EQ(SearchTexts(), before);
  EXPECT_EQ(ActivateEmbeddingVersion(**conn, "action", 7).code(), absl::StatusCode::kNotFound);
}

TEST_F(VersionsTest, ANewEmbeddingModelAloneMakesNoLlmCall) {
  Sync({{"domain", "action"}});
  const auto live = LiveKeys("posthog_action", "s.deleted");
  const int summarized = summarizer_.items;
  CountingEmbedder other_model(32);
  env_.embedder = &other_model;
  Sync({{"domain", "action"}});
  EXPECT_EQ(summarizer_.items, summarized) << "the summaries of version 1 serve version 2";
  EXPECT_EQ(other_model.items, static_cast<int>(live.size()));
  EXPECT_EQ(Active(), 2);
  auto dims = clickhouse_->Query(
      absl::StrCat("SELECT DISTINCT embedding_version, length(vector) FROM ", table_,
                   " FINAL WHERE domain = 'action' AND is_deleted = 0 ORDER BY 1 FORMAT TSV"));
  ASSERT_TRUE(dims.ok());
  EXPECT_EQ(*dims, "1\t64\n2\t32\n");
  // Another run under the same profile pays for nothing.
  Sync({{"domain", "action"}});
  EXPECT_EQ(other_model.items, static_cast<int>(live.size()));
  EXPECT_EQ(summarizer_.items, summarized);
}

TEST_F(VersionsTest, AVersionOfAnotherProfileIsNeverWrittenToAndAnOlderOneIsRefused) {
  Sync({{"domain", "action"}});
  summarizer_.set_model_suffix("[model B]");
  ExecutionInfo mixed = RunSync({{"domain", "action"}, {"embedding_version", 1}});
  EXPECT_EQ(mixed.status, WorkflowStatus::kFailed);
  EXPECT_NE(mixed.failure.dump().find("never mixes"), std::string::npos) << mixed.failure.dump();
  Sync({{"domain", "action"}});  // Builds and activates version 2.
  engine::StartWorkflowRequest req;
  req.workflow_type = kSyncEntityVectorsWorkflow;
  req.input = {{"domain", "action"}, {"embedding_version", 1}};
  auto refused = client_->StartWorkflow(req);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("--activate 1"), absl::string_view::npos)
      << refused.status();
}

TEST_F(VersionsTest, ATableMadeBeforeVersionsSatSideBySideIsRebuiltWithItsRows) {
  const std::string old = table_ + "_old_key";
  ASSERT_TRUE(clickhouse_
                  ->Execute("CREATE TABLE " + old +
                            " (domain String, team_id Int64, id String, vector Array(Float32), "
                            "text String, properties String, timestamp DateTime DEFAULT now(), "
                            "is_deleted UInt8, embedding_version UInt32, version UInt64) "
                            "ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, domain, id)")
                  .ok());
  ASSERT_TRUE(clickhouse_
                  ->Execute("INSERT INTO " + old +
                            " (domain, team_id, id, vector, text, properties, is_deleted, "
                            "embedding_version, version) VALUES ('action', 1, '7', [1, 0], 'kept', "
                            "'{}', 0, 1, 42)")
                  .ok());
  VectorTable table(clickhouse_.get(), old);
  ASSERT_TRUE(table.CreateIfMissing().ok());
  ASSERT_TRUE(table.CreateIfMissing().ok()) << "a second look changes nothing";
  auto ddl = clickhouse_->Query("SHOW CREATE TABLE " + old + " FORMAT TSV");
  ASSERT_TRUE(ddl.ok());
  EXPECT_NE(ddl->find("embedding_version)"), std::string::npos) << *ddl;
  auto rows = clickhouse_->Query("SELECT id, text, version FROM " + old + " FINAL FORMAT TSV");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, "7\tkept\t42\n");
  (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + old);
}

// While a version for a new embedding model is built, SearchService answers from the active
// version, embedding the query with that version's model; then from the new one.
TEST_F(VersionsTest, SearchEmbedsTheQueryWithTheActiveVersionsModelDuringASwitch) {
  Sync({{"domain", "action"}});  // Version 1: hashing-v1/64.
  CountingEmbedder new_model(32);
  env_.embedder = &new_model;
  Sync({{"domain", "action"}, {"team_ids", {1}}});  // Version 2 (hashing-v1/32), in part.
  ASSERT_EQ(Active(), 1);

  auto auth = api::BearerAuth::Create({});
  ASSERT_TRUE(auth.ok());
  CountingEmbedder old_model(64);
  int asked_for_old = 0;
  api::SearchService service(vectors_.get(), &domains_, &new_model, &*auth, pool_.get(),
                             [&](const std::string& profile) -> absl::StatusOr<clients::Embedder*> {
                               EXPECT_EQ(profile, "hashing-v1/64");
                               ++asked_for_old;
                               return &old_model;
                             });
  api::SearchService without_old(vectors_.get(), &domains_, &new_model, &*auth, pool_.get());
  api::ApiServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = api::ApiServer::Start(options, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::SearchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  v1::SearchSimilarRequest req;
  req.set_domain("action");
  req.set_team_id(2);  // Not in version 2 yet: found only in version 1.
  req.set_query("Signed up");
  req.set_limit(5);
  v1::SearchSimilarResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->SearchSimilar(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_GT(resp.hits_size(), 0) << "answered from version 1, with its model";
  EXPECT_EQ(asked_for_old, 1);

  Sync({{"domain", "action"}});  // Completes version 2, which becomes active.
  ASSERT_EQ(Active(), 2);
  resp.Clear();
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->SearchSimilar(&ctx, req, &resp).ok());
  }
  EXPECT_GT(resp.hits_size(), 0);
  EXPECT_EQ(asked_for_old, 1) << "version 2 is searched with the configured model";
  (*server)->Shutdown(absl::Seconds(1));

  // A server that cannot make the active version's model says so instead of answering wrongly.
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(ActivateEmbeddingVersion(**conn, "action", 1).ok());
  auto plain = api::ApiServer::Start(options, {&without_old});
  ASSERT_TRUE(plain.ok());
  auto plain_stub = v1::SearchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*plain)->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  grpc::Status s = plain_stub->SearchSimilar(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("hashing-v1/64"), std::string::npos) << s.error_message();
  (*plain)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace vecsync::workflows
