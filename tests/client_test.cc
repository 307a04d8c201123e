// Start, policies, cancel, terminate, describe, list and history against the real PostgreSQL.
#include "src/engine/client.h"

#include <atomic>
#include <set>
#include <thread>

#include "tests/engine_fixture.h"

namespace vecsync::engine {
namespace {

using ::vecsync::testing::EngineTest;

class ClientTest : public EngineTest {
 protected:
  absl::StatusOr<StartWorkflowResult> StartWith(const std::string& id, ReusePolicy reuse,
                                                ConflictPolicy conflict,
                                                const std::string& request_id = "") {
    StartWorkflowRequest req;
    req.workflow_type = "sequence";
    req.workflow_id = id;
    req.request_id = request_id;
    req.reuse_policy = reuse;
    req.conflict_policy = conflict;
    return client_->StartWorkflow(req);
  }
};

TEST_F(ClientTest, StartGeneratesIdsAndRecordsTheStartEvent) {
  StartWorkflowResult r = Start("sequence", {{"count", 1}});
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.workflow_id.size(), 36u);
  auto e = client_->Describe({r.workflow_id, ""});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->run_id, r.run_id);
  EXPECT_EQ(e->status, WorkflowStatus::kRunning);
  EXPECT_EQ(e->input["count"], 1);
  auto h = client_->GetHistory({r.workflow_id, r.run_id}, 10, "");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->events.size(), 1u);
  EXPECT_EQ(h->events[0].event_type, "WorkflowExecutionStarted");
}

TEST_F(ClientTest, SameRequestIdReturnsTheSameRun) {
  auto a = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail, "req-1");
  auto b = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail, "req-1");
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  EXPECT_TRUE(a->started);
  EXPECT_FALSE(b->started);
  EXPECT_EQ(a->run_id, b->run_id);
}

TEST_F(ClientTest, RetriedStartWithAGeneratedWorkflowIdIsRecognizedByRequestId) {
  auto a = StartWith("", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail, "req-generated");
  auto b = StartWith("", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail, "req-generated");
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  EXPECT_TRUE(a->started);
  EXPECT_FALSE(b->started);
  EXPECT_EQ(a->workflow_id, b->workflow_id);
  EXPECT_EQ(a->run_id, b->run_id);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions"), 1);
}

TEST_F(ClientTest, ConflictPolicies) {
  auto first = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail);
  ASSERT_TRUE(first.ok());
  auto fail = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail);
  EXPECT_EQ(fail.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(fail.status().message().find("already running"), absl::string_view::npos);

  auto existing = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kUseExisting);
  ASSERT_TRUE(existing.ok());
  EXPECT_FALSE(existing->started);
  EXPECT_EQ(existing->run_id, first->run_id);

  auto replaced = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kTerminateExisting);
  ASSERT_TRUE(replaced.ok());
  EXPECT_TRUE(replaced->started);
  EXPECT_NE(replaced->run_id, first->run_id);
  auto old = client_->Describe({"wf", first->run_id});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->status, WorkflowStatus::kTerminated);
}

TEST_F(ClientTest, ReusePolicies) {
  auto first = StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(client_->Terminate({"wf", ""}, "test").ok());

  // The latest run failed (terminated): FAILED_ONLY allows, REJECT refuses.
  EXPECT_EQ(StartWith("wf", ReusePolicy::kRejectDuplicate, ConflictPolicy::kFail).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto second = StartWith("wf", ReusePolicy::kAllowDuplicateFailedOnly, ConflictPolicy::kFail);
  ASSERT_TRUE(second.ok()) << second.status();

  // Complete the second run; now FAILED_ONLY refuses and ALLOW_DUPLICATE allows.
  auto worker = StartWorker();
  auto done = client_->WaitForClose({"wf", second->run_id}, absl::Seconds(30));
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->status, WorkflowStatus::kCompleted);
  auto refused = StartWith("wf", ReusePolicy::kAllowDuplicateFailedOnly, ConflictPolicy::kFail);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("ALLOW_DUPLICATE_FAILED_ONLY"),
            absl::string_view::npos);
  EXPECT_TRUE(StartWith("wf", ReusePolicy::kAllowDuplicate, ConflictPolicy::kFail).ok());
}

TEST_F(ClientTest, ConcurrentStartsOfOneWorkflowIdMakeExactlyOneRun) {
  constexpr int kThreads = 16;
  std::atomic<int> started{0}, already{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      PgPool pool(testing::TestDatabaseUrl(), 1);
      Client client(&pool, registry_.get());
      StartWorkflowRequest req;
      req.workflow_type = "sequence";
      req.workflow_id = "contended";
      auto r = client.StartWorkflow(req);
      if (r.ok() && r->started) {
        ++started;
      } else if (r.status().code() == absl::StatusCode::kAlreadyExists) {
        ++already;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(already.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id = 'contended'"), 1);
}

TEST_F(ClientTest, BadInputIsRejectedWithTheFieldNamed) {
  StartWorkflowRequest req;
  auto r = client_->StartWorkflow(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("workflow_type"), absl::string_view::npos);

  req.workflow_type = "no-such-type";
  r = client_->StartWorkflow(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("known types"), absl::string_view::npos);
  EXPECT_NE(r.status().message().find("sequence"), absl::string_view::npos);

  req.workflow_type = "sequence";
  req.input = Json::array();
  r = client_->StartWorkflow(req);
  EXPECT_NE(r.status().message().find("input"), absl::string_view::npos);

  req.input = Json::object();
  req.execution_timeout = absl::Seconds(-5);
  r = client_->StartWorkflow(req);
  EXPECT_NE(r.status().message().find("execution_timeout"), absl::string_view::npos);

  req.execution_timeout.reset();
  req.workflow_id = std::string(2000, 'x');
  r = client_->StartWorkflow(req);
  EXPECT_NE(r.status().message().find("workflow_id"), absl::string_view::npos);

  EXPECT_EQ(client_->Describe({"", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Describe({"x", "not-a-uuid"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Describe({"missing", ""}).status().code(), absl::StatusCode::kNotFound);
  ListWorkflowsRequest list;
  list.page_size = 0;
  EXPECT_NE(client_->List(list).status().message().find("page_size"), absl::string_view::npos);
  list.page_size = 10;
  list.page_token = "garbage";
  EXPECT_EQ(client_->List(list).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseReusePolicy("sometimes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConflictPolicy("WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING").value(),
            ConflictPolicy::kUseExisting);
}

TEST_F(ClientTest, CancelAndTerminateOfClosedRunsAreFailedPreconditions) {
  StartWorkflowResult r = Start("sequence", {{"count", 1}}, "closing");
  ASSERT_TRUE(client_->RequestCancel({"closing", ""}, "first").ok());
  ASSERT_TRUE(client_->RequestCancel({"closing", ""}, "again is fine").ok());
  ASSERT_TRUE(client_->Terminate({"closing", r.run_id}, "stop").ok());
  auto e = client_->Describe({"closing", ""});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status, WorkflowStatus::kTerminated);
  EXPECT_EQ(e->failure["message"], "stop");
  EXPECT_EQ(client_->Terminate({"closing", ""}, "again").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->RequestCancel({"closing", ""}, "late").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->Terminate({"nope", ""}, "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, ListFiltersAndPagesWithoutGapsOrRepeats) {
  for (int i = 0; i < 25; ++i) Start(i % 2 == 0 ? "sequence" : "sleeper", Json::object());
  ASSERT_TRUE(
      client_->Terminate({client_->List({}).value().executions[0].workflow_id, ""}, "x").ok());

  std::set<std::string> seen;
  ListWorkflowsRequest req;
  req.page_size = 7;
  int pages = 0;
  do {
    auto page = client_->List(req);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& e : page->executions) EXPECT_TRUE(seen.insert(e.run_id).second);
    req.page_token = page->next_page_token;
    ++pages;
  } while (!req.page_token.empty());
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 4);

  ListWorkflowsRequest by_type;
  by_type.workflow_type = "sequence";
  EXPECT_EQ(client_->List(by_type).value().executions.size(), 13u);
  ListWorkflowsRequest by_status;
  by_status.statuses = {WorkflowStatus::kTerminated};
  EXPECT_EQ(client_->List(by_status).value().executions.size(), 1u);
  ListWorkflowsRequest by_time;
  by_time.started_after = absl::Now() + absl::Hours(1);
  EXPECT_TRUE(client_->List(by_time).value().executions.empty());
}

}  // namespace
}  // namespace vecsync::engine
