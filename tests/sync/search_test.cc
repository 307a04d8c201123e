// sync-entity-vectors, search over the vector table: nearest first, team-scoped, never a deleted
// entity; over gRPC.
#include <grpcpp/grpcpp.h>

#include "src/api/api_server.h"
#include "src/api/search_service.h"
#include "tests/sync/sync_fixture.h"

namespace vecsync::workflows {
namespace {

// One live action ClickHouse holds, after a sync: its team, id and text.
struct HeldAction {
  int64_t team_id = 0;
  std::string id, text;
};
HeldAction FirstHeldAction(clients::ClickHouseClient& clickhouse, const std::string& table) {
  auto text = clickhouse.Query("SELECT team_id, id, text FROM " + table +
                               " FINAL WHERE domain = 'action' AND is_deleted = 0 "
                               "ORDER BY id LIMIT 1 FORMAT JSONEachRow");
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return {};
  const Json row = Json::parse(*text);
  // 64-bit integers come quoted from older ClickHouse releases.
  return {row["team_id"].is_string() ? std::stoll(row["team_id"].get<std::string>())
                                     : row["team_id"].get<int64_t>(),
          row["id"].get<std::string>(), row["text"].get<std::string>()};
}

TEST_F(SyncTest, SearchFindsAnEntityByItsSummaryAndNeverReturnsDeletedOnes) {
  Sync({{"domain", "action"}});
  const HeldAction held = FirstHeldAction(*clickhouse_, table_);
  ASSERT_FALSE(held.id.empty());
  SearchRequest req;
  req.domain = "action";
  req.team_id = held.team_id;
  req.query = embedder_.Embed({held.text}).value()[0];
  req.limit = 5;
  auto hits = vectors_->Search(req);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].id, held.id);
  EXPECT_NEAR((*hits)[0].distance, 0.0, 1e-4);
  EXPECT_EQ((*hits)[0].properties["embedding_version"], 1);

  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id = " + held.id);
  Sync({{"domain", "action"}});
  hits = vectors_->Search(req);
  ASSERT_TRUE(hits.ok());
  for (const auto& hit : *hits) EXPECT_NE(hit.id, held.id);
  // Other teams' entities never show up.
  req.team_id = 999;
  EXPECT_TRUE(vectors_->Search(req).value().empty());
}

TEST_F(SyncTest, SearchServiceAnswersOverGrpc) {
  Sync({{"domain", "action"}});
  const HeldAction held = FirstHeldAction(*clickhouse_, table_);
  ASSERT_FALSE(held.id.empty());
  const int64_t team = held.team_id;
  auto auth = api::BearerAuth::Create({"search-token"});
  ASSERT_TRUE(auth.ok());
  api::SearchService service(vectors_.get(), &domains_, &embedder_, &*auth, pool_.get());
  api::ApiServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = api::ApiServer::Start(options, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::SearchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto call = [&](const v1::SearchSimilarRequest& req, v1::SearchSimilarResponse* resp,
                  const std::string& token = "search-token") {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return stub->SearchSimilar(&ctx, req, resp);
  };

  v1::SearchSimilarRequest req;
  req.set_domain("action");
  req.set_team_id(team);
  req.set_query(held.text);
  req.set_limit(3);
  v1::SearchSimilarResponse resp;
  grpc::Status s = call(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GE(resp.hits_size(), 1);
  EXPECT_LE(resp.hits_size(), 3);
  EXPECT_EQ(resp.hits(0).entity_id(), held.id);
  EXPECT_NEAR(resp.hits(0).distance(), 0.0, 1e-4);
  EXPECT_EQ(resp.hits(0).text(), held.text);
  EXPECT_TRUE(Json::parse(resp.hits(0).properties_json()).contains("name"));
  for (int i = 1; i < resp.hits_size(); ++i) {
    EXPECT_GE(resp.hits(i).distance(), resp.hits(i - 1).distance()) << "nearest first";
  }

  EXPECT_EQ(call(req, &resp, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::SearchSimilarRequest bad = req;
  bad.set_domain("planet");
  s = call(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("action"), std::string::npos) << "lists the known domains";
  bad = req;
  bad.set_query("   ");
  EXPECT_EQ(call(bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad = req;
  bad.set_limit(5000);
  s = call(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("limit"), std::string::npos);

  // A provider failure is the server's problem: UNAVAILABLE, and its text stays in the log.
  class RefusingEmbedder : public clients::Embedder {
   public:
    // The model the active version was made with, whose provider now refuses the key.
    std::string model() const override { return clients::HashingEmbedder::kModel; }
    int dimensions() const override { return 64; }
    absl::StatusOr<std::vector<std::vector<float>>> Embed(
        const std::vector<std::string>&) override {
      return absl::InvalidArgumentError("HTTP 401: Incorrect API key provided: sk-secret-123");
    }
  } refusing;
  api::SearchService failing(vectors_.get(), &domains_, &refusing, &*auth, pool_.get());
  auto failing_server = api::ApiServer::Start(options, {&failing});
  ASSERT_TRUE(failing_server.ok());
  auto failing_stub = v1::SearchService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*failing_server)->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer search-token");
  s = failing_stub->SearchSimilar(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message().find("sk-secret"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace vecsync::workflows
