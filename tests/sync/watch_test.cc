// sync-entity-vectors, events to subscribers: WatchEntityChanges streams one event per entity
// version embedded or tombstoned, in commit order, and a subscriber that reconnects with its
// token misses and repeats nothing.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "src/api/api_server.h"
#include "src/api/entity_service.h"
#include "tests/sync/sync_fixture.h"
#include "tests/test_env.h"
#include "workflows/sync/entity_events.h"
#include "workflows/sync/ledger.h"

namespace vecsync::workflows {
namespace {

class WatchTest : public SyncTest {
 protected:
  void SetUp() override {
    SyncTest::SetUp();
    auto auth = api::BearerAuth::Create({"watch-token"});
    ASSERT_TRUE(auth.ok());
    auth_ = std::make_unique<api::BearerAuth>(std::move(*auth));
    service_ =
        std::make_unique<api::EntityService>(pool_.get(), &domains_, auth_.get(), &env_, &prices_);
    api::ApiServerOptions options;
    options.listen = "127.0.0.1:0";
    auto server = api::ApiServer::Start(options, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::EntityService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(absl::Seconds(1));
    SyncTest::TearDown();
  }

  // Reads up to `n` entity events (checkpoints skipped) from a subscription resumed at `token`,
  // giving up after `timeout`; the status the stream ended with goes to `status`.
  std::vector<v1::EntityChange> Read(const std::string& token, size_t n,
                                     absl::Duration timeout = absl::Seconds(20),
                                     grpc::Status* status = nullptr,
                                     std::vector<int64_t> teams = {}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer watch-token");
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
    v1::WatchEntityChangesRequest req;
    req.set_domain("action");
    req.set_resume_token(token);
    for (int64_t t : teams) req.add_team_ids(t);
    auto reader = stub_->WatchEntityChanges(&ctx, req);
    std::vector<v1::EntityChange> events;
    v1::EntityChange change;
    bool ended = false;
    while (events.size() < n) {
      if (!reader->Read(&change)) {
        ended = true;
        break;
      }
      if (change.kind() != v1::EntityChange::CHECKPOINT) events.push_back(change);
    }
    if (!ended) ctx.TryCancel();  // Read enough: the stream goes on until cancelled.
    grpc::Status s = reader->Finish();
    if (status != nullptr) *status = s;
    return events;
  }

  std::unique_ptr<api::BearerAuth> auth_;
  const clients::PriceTable prices_ = clients::PriceTable::BuiltIn();
  std::unique_ptr<api::EntityService> service_;
  std::unique_ptr<api::ApiServer> server_;
  std::unique_ptr<v1::EntityService::Stub> stub_;
};

TEST_F(WatchTest, ASubscriberThatReconnectsWithItsTokenMissesAndRepeatsNothing) {
  const auto live = LiveKeys("posthog_action", "s.deleted");
  // The subscriber reads while the sync's flushes (two at a time, many small inserts) commit,
  // leaves after 50 events, and comes back with the token of the last one it read.
  std::vector<v1::EntityChange> first, rest;
  std::thread subscriber([&] {
    first = Read("e0", 50, absl::Seconds(60));
    if (first.size() == 50) rest = Read(first.back().resume_token(), live.size() - 50);
  });
  embedder_.delay = absl::Milliseconds(5);
  Sync({{"domain", "action"}, {"insert_batch_size", 20}, {"summarize_batch_size", 10}});
  subscriber.join();
  ASSERT_EQ(first.size(), 50u);
  ASSERT_EQ(rest.size(), live.size() - 50);
  std::set<std::string> seen;
  int64_t previous = 0;
  for (const auto* part : {&first, &rest}) {
    for (const v1::EntityChange& c : *part) {
      EXPECT_EQ(c.kind(), v1::EntityChange::EMBEDDED);
      EXPECT_TRUE(seen.insert(absl::StrCat(c.team_id(), "\t", c.entity_id())).second)
          << "repeated: " << c.entity_id();
      const int64_t seq = std::stoll(c.resume_token().substr(1));
      EXPECT_GT(seq, previous) << "out of order";
      previous = seq;
    }
  }
  EXPECT_EQ(seen, live);

  // A deletion after the subscriber's last event: it comes next, as a tombstone, alone.
  const std::string last = rest.back().resume_token();
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 1 AND NOT deleted");
  Exec(
      absl::StrCat("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id = ", id));
  Sync({{"domain", "action"}});
  grpc::Status ended;
  std::vector<v1::EntityChange> next = Read(last, 2, absl::Seconds(3), &ended);
  ASSERT_EQ(next.size(), 1u) << "one event per entity version";
  EXPECT_EQ(next[0].kind(), v1::EntityChange::TOMBSTONED);
  EXPECT_EQ(next[0].entity_id(), std::to_string(id));
  EXPECT_EQ(next[0].team_id(), 1);
}

TEST_F(WatchTest, WithoutATokenASubscriberGetsWhatHappensAfterItSubscribed) {
  Sync({{"domain", "action"}});
  std::vector<v1::EntityChange> events;
  std::thread subscriber([&] { events = Read("", 1); });
  absl::SleepFor(absl::Milliseconds(500));  // Subscribed, and nothing new yet.
  const int64_t id =
      QueryInt("SELECT min(id) FROM posthog_action WHERE team_id = 2 AND NOT deleted");
  Exec(absl::StrCat("UPDATE posthog_action SET name = 'Watched', updated_at = now() WHERE id = ",
                    id));
  Sync({{"domain", "action"}});
  subscriber.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].entity_id(), std::to_string(id));
  EXPECT_EQ(events[0].kind(), v1::EntityChange::EMBEDDED);
}

TEST_F(WatchTest, ATeamFilterATokenFromBeforeTheRetentionWindowAndBadInputAreAnswered) {
  Sync({{"domain", "action"}});
  for (const v1::EntityChange& c : Read("e0", 5, absl::Seconds(5), nullptr, {3})) {
    EXPECT_EQ(c.team_id(), 3);
  }
  {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    Exec(
        "UPDATE vecsync.entity_events SET created_at = now() - interval '8 days' "
        "WHERE seq <= 10");
    ASSERT_TRUE(PruneEntityEvents(**conn, kEntityEventRetention).ok());
  }
  grpc::Status s;
  Read("e3", 1, absl::Seconds(5), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  EXPECT_NE(s.error_message().find("reconcile"), std::string::npos) << s.error_message();
  EXPECT_EQ(Read("e10", 1, absl::Seconds(5), &s).size(), 1u) << "nothing after e10 was dropped";
  Read("x12", 1, absl::Seconds(5), &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext ctx;
  v1::WatchEntityChangesRequest req;
  req.set_domain("action");
  v1::EntityChange change;
  auto reader = stub_->WatchEntityChanges(&ctx, req);
  reader->Read(&change);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// The outbox's order is commit order: an append waits for the one before it to commit, so a
// reader that has seen an event has seen every event with a smaller seq it will ever see.
TEST_F(WatchTest, AnAppendWaitsForTheTransactionThatAppendedBeforeItToCommit) {
  auto row = [](int64_t team, absl::string_view id) {
    QueuedRow r;
    r.team_id = team;
    r.id = id;
    r.text = "text";
    r.properties = "{}";
    r.embedding_version = 1;
    r.row_version = 100;
    r.vector_hash = "h";
    return r;
  };
  const QueuedRow a = row(1, "a"), b = row(2, "b");
  auto first = PgConnection::Connect(testing::TestDatabaseUrl());
  auto second = PgConnection::Connect(testing::TestDatabaseUrl());
  ASSERT_TRUE(first.ok() && second.ok());
  PgTransaction t1(**first);
  ASSERT_TRUE(t1.Begin().ok());
  const QueuedRow* first_rows[] = {&a};
  ASSERT_TRUE(Ledger(**first, "action").RecordSynced(first_rows).ok());

  std::atomic<bool> appended{false};
  std::thread later([&] {
    PgTransaction t2(**second);
    ASSERT_TRUE(t2.Begin().ok());
    const QueuedRow* second_rows[] = {&b};
    ASSERT_TRUE(Ledger(**second, "action").RecordSynced(second_rows).ok());
    appended = true;
    ASSERT_TRUE(t2.Commit().ok());
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(appended) << "an append went ahead of an uncommitted one";
  ASSERT_TRUE(t1.Commit().ok());
  later.join();
  EXPECT_TRUE(appended);
  EXPECT_EQ(QueryInt("SELECT team_id FROM vecsync.entity_events ORDER BY seq LIMIT 1"), 1);
  EXPECT_EQ(QueryInt("SELECT team_id FROM vecsync.entity_events ORDER BY seq DESC LIMIT 1"), 2);
}

}  // namespace
}  // namespace vecsync::workflows
