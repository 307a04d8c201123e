// The gRPC WorkflowService end to end: a real server on loopback, the real PostgreSQL, a real
// worker running the test workflows; calls made through generated stubs like any client's.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "grpc/health/v1/health.grpc.pb.h"
#include "src/api/api_server.h"
#include "src/api/bearer_auth.h"
#include "src/api/proto_convert.h"
#include "src/api/run_change_feed.h"
#include "src/api/schedule_service.h"
#include "src/api/workflow_service.h"
#include "tests/engine_fixture.h"
#include "vecsync/v1/workflow_service.grpc.pb.h"

namespace vecsync::api {
namespace {

using v1::WorkflowService;

class ApiTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    feed_ = std::make_unique<RunChangeFeed>(testing::TestDatabaseUrl());
    feed_->Start();
    worker_ = StartWorker();
    StartServer({});
  }
  void TearDown() override {
    server_.reset();
    service_.reset();
    worker_.reset();
    feed_.reset();
  }

  // (Re)starts the API with these bearer tokens (none: auth off).
  void StartServer(std::vector<std::string> tokens, ApiServerOptions options = {}) {
    server_.reset();
    auto auth = BearerAuth::Create(std::move(tokens));
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::move(*auth);
    service_ = std::make_unique<api::WorkflowService>(client_.get(), feed_.get(), &auth_);
    options.listen = "127.0.0.1:0";
    auto server = ApiServer::Start(options, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = WorkflowService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  grpc::Status StartCall(const v1::StartWorkflowRequest& req, v1::StartWorkflowResponse* resp) {
    return stub_->StartWorkflow(Ctx().get(), req, resp);
  }

  v1::StartWorkflowResponse StartOk(const std::string& type, const std::string& input_json,
                                    const std::string& workflow_id = "") {
    v1::StartWorkflowRequest req;
    req.set_workflow_type(type);
    req.set_workflow_id(workflow_id);
    req.set_input_json(input_json);
    v1::StartWorkflowResponse resp;
    grpc::Status s = StartCall(req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::WorkflowExecution DescribeOk(const std::string& workflow_id, const std::string& run_id = "") {
    v1::DescribeWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    req.set_run_id(run_id);
    v1::DescribeWorkflowResponse resp;
    grpc::Status s = stub_->DescribeWorkflow(Ctx().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.execution();
  }

  // Follows the run through WatchWorkflow to its end; returns every message.
  std::vector<v1::WorkflowExecution> WatchAll(const std::string& workflow_id,
                                              grpc::Status* status) {
    v1::WatchWorkflowRequest req;
    req.set_workflow_id(workflow_id);
    auto ctx = Ctx();
    auto reader = stub_->WatchWorkflow(ctx.get(), req);
    std::vector<v1::WorkflowExecution> seen;
    v1::WatchWorkflowResponse update;
    while (reader->Read(&update)) seen.push_back(update.execution());
    *status = reader->Finish();
    return seen;
  }

  v1::WorkflowExecution WaitClosedOverApi(const std::string& workflow_id) {
    grpc::Status status;
    std::vector<v1::WorkflowExecution> seen = WatchAll(workflow_id, &status);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return seen.empty() ? v1::WorkflowExecution() : seen.back();
  }

  std::unique_ptr<RunChangeFeed> feed_;
  std::unique_ptr<engine::Worker> worker_;
  BearerAuth auth_;
  std::unique_ptr<api::WorkflowService> service_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<WorkflowService::Stub> stub_;
};

TEST_F(ApiTest, StartRunsTheWorkflowAndDescribeShowsItsResult) {
  v1::StartWorkflowResponse started = StartOk("sequence", R"({"count": 3})");
  EXPECT_TRUE(started.started());
  EXPECT_FALSE(started.workflow_id().empty()) << "a workflow_id is generated when empty";
  v1::WorkflowExecution closed = WaitClosedOverApi(started.workflow_id());
  EXPECT_EQ(closed.status(), v1::WORKFLOW_STATUS_COMPLETED);
  v1::WorkflowExecution e = DescribeOk(started.workflow_id());
  EXPECT_EQ(e.run_id(), started.run_id());
  EXPECT_EQ(e.workflow_type(), "sequence");
  EXPECT_EQ(Json::parse(e.input_json())["count"], 3);
  EXPECT_EQ(Json::parse(e.result_json())["sum"], 0 + 1 + 2);
  EXPECT_EQ(Json::parse(e.progress_json())["done"], 3);
  EXPECT_TRUE(e.has_close_time());
  EXPECT_GE(e.close_time().seconds(), e.start_time().seconds());
  EXPECT_TRUE(e.failure_json().empty());
}

TEST_F(ApiTest, TheSameRequestIdStartsOnce) {
  v1::StartWorkflowRequest req;
  req.set_workflow_type("sleeper");
  req.set_workflow_id("idempotent");
  req.set_request_id("req-1");
  req.set_input_json(R"({"ms": 60000})");
  v1::StartWorkflowResponse first, second;
  ASSERT_TRUE(StartCall(req, &first).ok());
  ASSERT_TRUE(StartCall(req, &second).ok());
  EXPECT_TRUE(first.started());
  EXPECT_FALSE(second.started());
  EXPECT_EQ(first.run_id(), second.run_id());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id = 'idempotent'"),
            1);
}

TEST_F(ApiTest, ConflictPolicies) {
  const std::string id = "conflicts";
  v1::StartWorkflowResponse running = StartOk("sleeper", R"({"ms": 60000})", id);
  v1::StartWorkflowRequest req;
  req.set_workflow_type("sleeper");
  req.set_workflow_id(id);
  req.set_input_json(R"({"ms": 60000})");
  v1::StartWorkflowResponse resp;

  // FAIL (the default): ALREADY_EXISTS.
  grpc::Status s = StartCall(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();

  req.set_conflict_policy(v1::WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING);
  ASSERT_TRUE(StartCall(req, &resp).ok());
  EXPECT_FALSE(resp.started());
  EXPECT_EQ(resp.run_id(), running.run_id());

  req.set_conflict_policy(v1::WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING);
  ASSERT_TRUE(StartCall(req, &resp).ok());
  EXPECT_TRUE(resp.started());
  EXPECT_NE(resp.run_id(), running.run_id());
  EXPECT_EQ(DescribeOk(id, running.run_id()).status(), v1::WORKFLOW_STATUS_TERMINATED);
  EXPECT_EQ(DescribeOk(id).run_id(), resp.run_id()) << "describe without run_id: latest run";
}

TEST_F(ApiTest, ReusePolicies) {
  v1::StartWorkflowRequest req;
  req.set_workflow_type("sequence");
  req.set_input_json(R"({"count": 1})");
  v1::StartWorkflowResponse resp;

  // A completed run: ALLOW_DUPLICATE starts again, FAILED_ONLY and REJECT refuse.
  req.set_workflow_id("reuse-completed");
  ASSERT_TRUE(StartCall(req, &resp).ok());
  WaitClosedOverApi("reuse-completed");
  req.set_reuse_policy(v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY);
  EXPECT_EQ(StartCall(req, &resp).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  req.set_reuse_policy(v1::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE);
  EXPECT_EQ(StartCall(req, &resp).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  req.set_reuse_policy(v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE);
  ASSERT_TRUE(StartCall(req, &resp).ok());
  EXPECT_TRUE(resp.started());
  WaitClosedOverApi("reuse-completed");

  // A failed run: FAILED_ONLY starts again.
  req.set_workflow_type("flaky");
  req.set_workflow_id("reuse-failed");
  req.set_input_json(R"({"fail_times": 5, "max_attempts": 1})");
  req.set_reuse_policy(v1::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED);
  ASSERT_TRUE(StartCall(req, &resp).ok());
  EXPECT_EQ(WaitClosedOverApi("reuse-failed").status(), v1::WORKFLOW_STATUS_FAILED);
  req.set_reuse_policy(v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY);
  ASSERT_TRUE(StartCall(req, &resp).ok());
  EXPECT_TRUE(resp.started());
}

TEST_F(ApiTest, ListFiltersAndPages) {
  for (int i = 0; i < 5; ++i) StartOk("sequence", R"({"count": 1})", "list-" + std::to_string(i));
  StartOk("sleeper", R"({"ms": 60000})", "list-sleeper");
  for (int i = 0; i < 5; ++i) WaitClosedOverApi("list-" + std::to_string(i));

  v1::ListWorkflowsRequest req;
  req.set_workflow_type("sequence");
  req.add_statuses(v1::WORKFLOW_STATUS_COMPLETED);
  req.set_page_size(2);
  std::set<std::string> ids;
  int pages = 0;
  do {
    v1::ListWorkflowsResponse page;
    grpc::Status s = stub_->ListWorkflows(Ctx().get(), req, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(page.executions_size(), 2);
    for (const auto& e : page.executions()) {
      EXPECT_EQ(e.workflow_type(), "sequence");
      EXPECT_EQ(e.status(), v1::WORKFLOW_STATUS_COMPLETED);
      EXPECT_TRUE(ids.insert(e.workflow_id()).second) << "listed twice: " << e.workflow_id();
    }
    req.set_next_page_token(page.next_page_token());
    ++pages;
  } while (!req.next_page_token().empty() && pages < 10);
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(pages, 3);

  // Status and time filters.
  v1::ListWorkflowsRequest running;
  running.add_statuses(v1::WORKFLOW_STATUS_RUNNING);
  v1::ListWorkflowsResponse page;
  ASSERT_TRUE(stub_->ListWorkflows(Ctx().get(), running, &page).ok());
  ASSERT_EQ(page.executions_size(), 1);
  EXPECT_EQ(page.executions(0).workflow_id(), "list-sleeper");
  v1::ListWorkflowsRequest future;
  future.mutable_start_time_from()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  ASSERT_TRUE(stub_->ListWorkflows(Ctx().get(), future, &page).ok());
  EXPECT_EQ(page.executions_size(), 0);
}

TEST_F(ApiTest, CancelAndTerminate) {
  StartOk("wait_cancel", "{}", "to-cancel");
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return DescribeOk("to-cancel").pending_activities_size() == 1; }, absl::Seconds(10)));
  v1::CancelWorkflowRequest cancel;
  cancel.set_workflow_id("to-cancel");
  cancel.set_reason("not needed");
  v1::CancelWorkflowResponse cancel_resp;
  grpc::Status s = stub_->CancelWorkflow(Ctx().get(), cancel, &cancel_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(WaitClosedOverApi("to-cancel").status(), v1::WORKFLOW_STATUS_CANCELED);
  // Canceling a closed run is a precondition failure.
  s = stub_->CancelWorkflow(Ctx().get(), cancel, &cancel_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  StartOk("sleeper", R"({"ms": 60000})", "to-terminate");
  v1::TerminateWorkflowRequest terminate;
  terminate.set_workflow_id("to-terminate");
  terminate.set_reason("operator said so");
  v1::TerminateWorkflowResponse terminate_resp;
  ASSERT_TRUE(stub_->TerminateWorkflow(Ctx().get(), terminate, &terminate_resp).ok());
  v1::WorkflowExecution e = DescribeOk("to-terminate");
  EXPECT_EQ(e.status(), v1::WORKFLOW_STATUS_TERMINATED);
  EXPECT_NE(e.failure_json().find("operator said so"), std::string::npos) << e.failure_json();

  v1::CancelWorkflowRequest unknown;
  unknown.set_workflow_id("no-such-workflow");
  EXPECT_EQ(stub_->CancelWorkflow(Ctx().get(), unknown, &cancel_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiTest, HistoryPagesThroughEveryEvent) {
  v1::StartWorkflowResponse started = StartOk("sequence", R"({"count": 4})");
  WaitClosedOverApi(started.workflow_id());
  v1::GetWorkflowHistoryRequest req;
  req.set_workflow_id(started.workflow_id());
  req.set_page_size(3);
  std::vector<v1::HistoryEvent> events;
  do {
    v1::GetWorkflowHistoryResponse page;
    grpc::Status s = stub_->GetWorkflowHistory(Ctx().get(), req, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(page.events_size(), 3);
    events.insert(events.end(), page.events().begin(), page.events().end());
    req.set_next_page_token(page.next_page_token());
  } while (!req.next_page_token().empty());
  EXPECT_EQ(
      static_cast<int64_t>(events.size()),
      QueryInt("SELECT count(*) FROM vecsync.history WHERE run_id = '" + started.run_id() + "'"));
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().event_type(), "WorkflowExecutionStarted");
  EXPECT_EQ(events.back().event_type(), "WorkflowExecutionCompleted");
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].event_id(), events[i - 1].event_id());
  }
}

TEST_F(ApiTest, WatchStreamsProgressUntilTheRunCloses) {
  v1::StartWorkflowResponse started = StartOk("sequence", R"({"count": 4, "sleep_ms": 300})");
  grpc::Status status;
  std::vector<v1::WorkflowExecution> seen = WatchAll(started.workflow_id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.back().status(), v1::WORKFLOW_STATUS_COMPLETED);
  std::set<int> progress_seen;
  int last_done = 0;
  for (size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i].status(), v1::WORKFLOW_STATUS_RUNNING);
    EXPECT_EQ(seen[i].run_id(), started.run_id());
    if (seen[i].progress_json().empty()) continue;
    const int done = Json::parse(seen[i].progress_json())["done"].get<int>();
    EXPECT_GE(done, last_done) << "progress went backwards";
    last_done = done;
    progress_seen.insert(done);
  }
  // Each activity takes 300 ms; the watch must show intermediate progress, not only the end.
  EXPECT_GE(progress_seen.size(), 2u);

  // Watching a closed run sends it once and ends.
  seen = WatchAll(started.workflow_id(), &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].status(), v1::WORKFLOW_STATUS_COMPLETED);

  // An unknown workflow is NOT_FOUND.
  seen = WatchAll("no-such-workflow", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiTest, WatchEndsWhenTheClientGoesAway) {
  StartOk("sleeper", R"({"ms": 60000})", "watched");
  v1::WatchWorkflowRequest req;
  req.set_workflow_id("watched");
  grpc::ClientContext ctx;
  auto reader = stub_->WatchWorkflow(&ctx, req);
  v1::WatchWorkflowResponse update;
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.execution().status(), v1::WORKFLOW_STATUS_RUNNING);
  const absl::Time t0 = absl::Now();
  ctx.TryCancel();
  while (reader->Read(&update)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server notices within its poll interval; shutting it down must not hang on the watch.
  server_->Shutdown(absl::Seconds(5));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST_F(ApiTest, BearerTokens) {
  StartServer({"old-token", "new-token"});
  v1::ListWorkflowsRequest req;
  v1::ListWorkflowsResponse resp;
  grpc::Status s = stub_->ListWorkflows(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("authorization"), std::string::npos) << s.error_message();
  s = stub_->ListWorkflows(Ctx("wrong-token").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message().find("wrong-token"), std::string::npos) << "token echoed back";
  s = stub_->ListWorkflows(Ctx("new-token-but-longer").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub_->ListWorkflows(Ctx("old-token").get(), req, &resp).ok());
  EXPECT_TRUE(stub_->ListWorkflows(Ctx("new-token").get(), req, &resp).ok());

  // Every method checks the token, streams included.
  v1::WatchWorkflowRequest watch;
  watch.set_workflow_id("anything");
  auto ctx = Ctx();
  auto reader = stub_->WatchWorkflow(ctx.get(), watch);
  v1::WatchWorkflowResponse update;
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::StartWorkflowRequest start;
  start.set_workflow_type("sequence");
  v1::StartWorkflowResponse started;
  EXPECT_EQ(stub_->StartWorkflow(Ctx().get(), start, &started).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions"), 0);

  // Health stays open for probes.
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(health->Check(Ctx().get(), hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ApiTest, BearerTokenFiles) {
  const std::string path = "/tmp/vecsync_api_test_tokens_" + std::to_string(getpid());
  {
    std::ofstream out(path);
    out << "# rotated monthly\n\n  first-token  \nsecond-token\n";
  }
  auto tokens = BearerAuth::ReadTokenFile(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, (std::vector<std::string>{"first-token", "second-token"}));
  {
    std::ofstream out(path);
    out << "# nothing here\n";
  }
  EXPECT_EQ(BearerAuth::ReadTokenFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
  EXPECT_EQ(BearerAuth::ReadTokenFile(path).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(BearerAuth::Create({"has space"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

// Each bad request: the code and a message naming the field.
TEST_F(ApiTest, ValidationErrorsNameTheField) {
  struct Case {
    const char* name;
    std::function<grpc::Status()> call;
    const char* field;
  };
  auto start = [this](std::function<void(v1::StartWorkflowRequest&)> edit) {
    return [this, edit] {
      v1::StartWorkflowRequest req;
      req.set_workflow_type("sequence");
      edit(req);
      v1::StartWorkflowResponse resp;
      return StartCall(req, &resp);
    };
  };
  auto list = [this](std::function<void(v1::ListWorkflowsRequest&)> edit) {
    return [this, edit] {
      v1::ListWorkflowsRequest req;
      edit(req);
      v1::ListWorkflowsResponse resp;
      return stub_->ListWorkflows(Ctx().get(), req, &resp);
    };
  };
  const std::vector<Case> cases = {
      {"no type", start([](auto& r) { r.set_workflow_type(""); }), "workflow_type"},
      {"unknown type", start([](auto& r) { r.set_workflow_type("nope"); }), "workflow_type"},
      {"input not JSON", start([](auto& r) { r.set_input_json("{oops"); }), "input_json"},
      {"input an array", start([](auto& r) { r.set_input_json("[1]"); }), "input_json"},
      {"input too large", start([](auto& r) {
         r.set_input_json("{\"x\":\"" + std::string(kMaxInputJsonBytes, 'a') + "\"}");
       }),
       "input_json"},
      {"reuse policy",
       start([](auto& r) { r.set_reuse_policy(static_cast<v1::WorkflowIdReusePolicy>(42)); }),
       "reuse_policy"},
      {"conflict policy",
       start([](auto& r) { r.set_conflict_policy(static_cast<v1::WorkflowIdConflictPolicy>(42)); }),
       "conflict_policy"},
      {"negative timeout", start([](auto& r) { r.mutable_execution_timeout()->set_seconds(-5); }),
       "execution_timeout"},
      {"workflow_id too long",
       start([](auto& r) { r.set_workflow_id(std::string(engine::kMaxIdLength + 1, 'w')); }),
       "workflow_id"},
      {"workflow_id control char", start([](auto& r) { r.set_workflow_id("a\nb"); }),
       "workflow_id"},
      {"page size", list([](auto& r) { r.set_page_size(5000); }), "page_size"},
      {"negative page size", list([](auto& r) { r.set_page_size(-1); }), "page_size"},
      {"status", list([](auto& r) { r.add_statuses(static_cast<v1::WorkflowStatus>(6)); }),
       "statuses"},
      {"time range", list([](auto& r) {
         r.mutable_start_time_from()->set_seconds(200);
         r.mutable_start_time_to()->set_seconds(100);
       }),
       "start_time_from"},
      {"page token", list([](auto& r) { r.set_next_page_token("garbage"); }), "page_token"},
      {"describe without id",
       [this] {
         v1::DescribeWorkflowRequest req;
         v1::DescribeWorkflowResponse resp;
         return stub_->DescribeWorkflow(Ctx().get(), req, &resp);
       },
       "workflow_id"},
      {"run_id not a UUID",
       [this] {
         v1::DescribeWorkflowRequest req;
         req.set_workflow_id("x");
         req.set_run_id("not-a-uuid");
         v1::DescribeWorkflowResponse resp;
         return stub_->DescribeWorkflow(Ctx().get(), req, &resp);
       },
       "run_id"},
      {"reason too long",
       [this] {
         v1::TerminateWorkflowRequest req;
         req.set_workflow_id("x");
         req.set_reason(std::string(kMaxReasonBytes + 1, 'r'));
         v1::TerminateWorkflowResponse resp;
         return stub_->TerminateWorkflow(Ctx().get(), req, &resp);
       },
       "reason"},
      {"history page size",
       [this] {
         v1::GetWorkflowHistoryRequest req;
         req.set_workflow_id("x");
         req.set_page_size(100000);
         v1::GetWorkflowHistoryResponse resp;
         return stub_->GetWorkflowHistory(Ctx().get(), req, &resp);
       },
       "page_size"},
  };
  for (const Case& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << s.error_code() << " " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.name << ": '" << s.error_message() << "' does not name " << c.field;
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions"), 0) << "a bad start started";
}

TEST_F(ApiTest, OversizedRequestsAreRefusedBeforeTheService) {
  ApiServerOptions options;
  options.max_receive_message_bytes = 64 * 1024;
  StartServer({}, options);
  v1::StartWorkflowRequest req;
  req.set_workflow_type("sequence");
  req.set_input_json("{\"x\":\"" + std::string(100 * 1024, 'a') + "\"}");
  v1::StartWorkflowResponse resp;
  EXPECT_EQ(StartCall(req, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ApiTest, DatabaseDownIsUnavailable) {
  // A service whose pool points at a port where nothing listens.
  PgPool dead_pool("postgresql://vecsync@127.0.0.1:1/vecsync?connect_timeout=2", 2);
  engine::Client dead_client(&dead_pool, registry_.get());
  api::WorkflowService dead(&dead_client, feed_.get(), &auth_);
  ApiServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = ApiServer::Start(options, {&dead});
  ASSERT_TRUE(server.ok());
  auto stub = WorkflowService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  v1::DescribeWorkflowRequest req;
  req.set_workflow_id("x");
  v1::DescribeWorkflowResponse resp;
  EXPECT_EQ(stub->DescribeWorkflow(Ctx().get(), req, &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  v1::StartWorkflowRequest start;
  start.set_workflow_type("sequence");
  v1::StartWorkflowResponse started;
  EXPECT_EQ(stub->StartWorkflow(Ctx().get(), start, &started).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ApiTest, Tls) {
  const std::string dir = "/tmp/vecsync_api_test_tls_" + std::to_string(getpid());
  const std::string cmd = "mkdir -p " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes " +
                          "-keyout " + dir + "/key.pem -out " + dir + "/cert.pem -days 1 " +
                          "-subj /CN=localhost -addext subjectAltName=DNS:localhost " +
                          ">/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  ApiServerOptions options;
  options.tls_cert_file = dir + "/cert.pem";
  options.tls_key_file = dir + "/key.pem";
  StartServer({"secret"}, options);
  ASSERT_TRUE(server_->tls());
  std::ifstream in(dir + "/cert.pem");
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto tls_stub = WorkflowService::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::SslCredentials(ssl), args));
  v1::ListWorkflowsRequest req;
  v1::ListWorkflowsResponse resp;
  grpc::Status s = tls_stub->ListWorkflows(Ctx("secret").get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // A plaintext client cannot talk to the TLS port.
  EXPECT_FALSE(stub_->ListWorkflows(Ctx("secret").get(), req, &resp).ok());
  std::system(("rm -rf " + dir).c_str());

  // Bad TLS settings are clear errors.
  ApiServerOptions half;
  half.listen = "127.0.0.1:0";
  half.tls_cert_file = "/nonexistent.pem";
  EXPECT_EQ(ApiServer::Start(half, {}).status().code(), absl::StatusCode::kInvalidArgument);
  half.tls_key_file = "/nonexistent-key.pem";
  EXPECT_EQ(ApiServer::Start(half, {}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vecsync::api

namespace vecsync::api {
namespace {

// The ScheduleService over gRPC with the real clock; RunDue is called by the test (no
// scheduler thread) so what fires is under the test's control.
class ScheduleApiTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    schedule_pool_ = std::make_unique<PgPool>(testing::TestDatabaseUrl(), 4);
    schedules_ =
        std::make_unique<engine::Schedules>(schedule_pool_.get(), registry_.get(), client_.get());
    auto auth = BearerAuth::Create({"token"});
    ASSERT_TRUE(auth.ok());
    auth_ = std::move(*auth);
    service_ = std::make_unique<ScheduleService>(schedules_.get(), &auth_);
    ApiServerOptions options;
    options.listen = "127.0.0.1:0";
    auto server = ApiServer::Start(options, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::ScheduleService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_.reset(); }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "token") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  v1::CreateScheduleRequest Hourly(const std::string& id) {
    v1::CreateScheduleRequest req;
    req.set_schedule_id(id);
    req.mutable_schedule()->mutable_spec()->set_cron_string("@hourly");
    req.mutable_schedule()->mutable_action()->set_workflow_type("sleeper");
    req.mutable_schedule()->mutable_action()->set_input_json(R"({"ms": 60000})");
    return req;
  }

  std::unique_ptr<PgPool> schedule_pool_;
  std::unique_ptr<engine::Schedules> schedules_;
  BearerAuth auth_;
  std::unique_ptr<ScheduleService> service_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<v1::ScheduleService::Stub> stub_;
};

TEST_F(ScheduleApiTest, EveryMethodEndToEnd) {
  v1::CreateScheduleRequest create = Hourly("api-hourly");
  create.mutable_schedule()->mutable_spec()->set_time_zone("Asia/Tokyo");
  create.mutable_schedule()->mutable_policies()->set_overlap_policy(
      v1::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE);
  create.mutable_schedule()->mutable_policies()->mutable_catchup_window()->set_seconds(600);
  v1::CreateScheduleResponse created;
  grpc::Status s = stub_->CreateSchedule(Ctx().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(created.conflict_token(), 0);
  EXPECT_EQ(stub_->CreateSchedule(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::DescribeScheduleRequest describe;
  describe.set_schedule_id("api-hourly");
  v1::DescribeScheduleResponse d;
  ASSERT_TRUE(stub_->DescribeSchedule(Ctx().get(), describe, &d).ok());
  EXPECT_EQ(d.schedule().spec().cron_string(), "@hourly");
  EXPECT_EQ(d.schedule().spec().time_zone(), "Asia/Tokyo");
  EXPECT_EQ(d.schedule().policies().overlap_policy(), v1::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE);
  EXPECT_EQ(d.schedule().policies().catchup_window().seconds(), 600);
  ASSERT_EQ(d.info().future_action_times_size(), 10);
  EXPECT_EQ(d.info().future_action_times(0).seconds() % 3600, 0);
  EXPECT_GT(absl::FromUnixSeconds(d.info().future_action_times(0).seconds()), absl::Now());

  // Trigger: starts now, then BUFFER_ONE buffers the next while the first runs.
  v1::TriggerScheduleRequest trigger;
  trigger.set_schedule_id("api-hourly");
  v1::TriggerScheduleResponse fired;
  ASSERT_TRUE(stub_->TriggerSchedule(Ctx().get(), trigger, &fired).ok());
  EXPECT_TRUE(fired.started());
  EXPECT_EQ(fired.outcome(), "started");
  EXPECT_EQ(
      QueryInt("SELECT count(*) FROM vecsync.executions WHERE run_id = '" + fired.run_id() + "'"),
      1);
  ASSERT_TRUE(stub_->TriggerSchedule(Ctx().get(), trigger, &fired).ok());
  EXPECT_FALSE(fired.started());
  EXPECT_EQ(fired.outcome(), "buffered");
  ASSERT_TRUE(stub_->DescribeSchedule(Ctx().get(), describe, &d).ok());
  EXPECT_EQ(d.info().action_count(), 1);
  EXPECT_EQ(d.info().running_workflows_size(), 1);
  EXPECT_TRUE(d.info().has_buffered_action_time());
  ASSERT_EQ(d.info().recent_actions_size(), 1);
  EXPECT_TRUE(d.info().recent_actions(0).manual());

  // Update with a stale token fails; with the current one it applies.
  v1::UpdateScheduleRequest update;
  update.set_schedule_id("api-hourly");
  *update.mutable_schedule() = d.schedule();
  update.mutable_schedule()->mutable_spec()->set_cron_string("0 0 1 1 * 2099");
  update.set_conflict_token(d.conflict_token() + 100);
  v1::UpdateScheduleResponse updated;
  EXPECT_EQ(stub_->UpdateSchedule(Ctx().get(), update, &updated).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  update.set_conflict_token(d.conflict_token());
  s = stub_->UpdateSchedule(Ctx().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(stub_->DescribeSchedule(Ctx().get(), describe, &d).ok());
  ASSERT_EQ(d.info().future_action_times_size(), 1) << "2099-01-01 00:00 Tokyo, then no more";
  EXPECT_EQ(absl::FromUnixSeconds(d.info().future_action_times(0).seconds()),
            absl::FromCivil(absl::CivilSecond(2098, 12, 31, 15, 0, 0), absl::UTCTimeZone()));

  // Pause and unpause with notes; list shows it.
  v1::PauseScheduleRequest pause;
  pause.set_schedule_id("api-hourly");
  pause.set_note("quiet period");
  v1::PauseScheduleResponse paused;
  ASSERT_TRUE(stub_->PauseSchedule(Ctx().get(), pause, &paused).ok());
  v1::ListSchedulesRequest list;
  v1::ListSchedulesResponse page;
  ASSERT_TRUE(stub_->ListSchedules(Ctx().get(), list, &page).ok());
  ASSERT_EQ(page.schedules_size(), 1);
  EXPECT_TRUE(page.schedules(0).schedule().state().paused());
  EXPECT_EQ(page.schedules(0).schedule().state().notes(), "quiet period");
  v1::UnpauseScheduleRequest unpause;
  unpause.set_schedule_id("api-hourly");
  v1::UnpauseScheduleResponse unpaused;
  ASSERT_TRUE(stub_->UnpauseSchedule(Ctx().get(), unpause, &unpaused).ok());
  ASSERT_TRUE(stub_->DescribeSchedule(Ctx().get(), describe, &d).ok());
  EXPECT_FALSE(d.schedule().state().paused());

  v1::DeleteScheduleRequest del;
  del.set_schedule_id("api-hourly");
  v1::DeleteScheduleResponse deleted;
  ASSERT_TRUE(stub_->DeleteSchedule(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(stub_->DeleteSchedule(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->DescribeSchedule(Ctx().get(), describe, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE status = 'RUNNING'"), 1)
      << "deleting a schedule leaves its runs running";
}

TEST_F(ScheduleApiTest, ValidationErrorsAndAuth) {
  struct Case {
    const char* name;
    std::function<void(v1::CreateScheduleRequest&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"no id", [](auto& r) { r.set_schedule_id(""); }, "schedule_id"},
      {"bad id", [](auto& r) { r.set_schedule_id("a b"); }, "schedule_id"},
      {"no schedule", [](auto& r) { r.clear_schedule(); }, "schedule"},
      {"no cron", [](auto& r) { r.mutable_schedule()->mutable_spec()->set_cron_string(""); },
       "cron"},
      {"bad cron", [](auto& r) { r.mutable_schedule()->mutable_spec()->set_cron_string("* * *"); },
       "cron"},
      {"bad zone",
       [](auto& r) { r.mutable_schedule()->mutable_spec()->set_time_zone("Moon/Base"); },
       "time zone"},
      {"negative jitter",
       [](auto& r) { r.mutable_schedule()->mutable_spec()->mutable_jitter()->set_seconds(-1); },
       "jitter"},
      {"no type", [](auto& r) { r.mutable_schedule()->mutable_action()->set_workflow_type(""); },
       "workflow_type"},
      {"bad input", [](auto& r) { r.mutable_schedule()->mutable_action()->set_input_json("[]"); },
       "input_json"},
      {"overlap",
       [](auto& r) {
         r.mutable_schedule()->mutable_policies()->set_overlap_policy(
             static_cast<v1::ScheduleOverlapPolicy>(3));
       },
       "overlap_policy"},
      {"catchup",
       [](auto& r) {
         r.mutable_schedule()->mutable_policies()->mutable_catchup_window()->set_seconds(1);
       },
       "catchup_window"},
  };
  for (const Case& c : cases) {
    v1::CreateScheduleRequest req = Hourly("valid");
    c.edit(req);
    v1::CreateScheduleResponse resp;
    grpc::Status s = stub_->CreateSchedule(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.name << ": '" << s.error_message() << "' does not name " << c.field;
  }
  v1::DescribeScheduleRequest describe;
  v1::DescribeScheduleResponse d;
  EXPECT_EQ(stub_->DescribeSchedule(Ctx().get(), describe, &d).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListSchedulesRequest list;
  list.set_page_size(5000);
  v1::ListSchedulesResponse page;
  EXPECT_EQ(stub_->ListSchedules(Ctx().get(), list, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.schedules"), 0);

  v1::CreateScheduleRequest req = Hourly("needs-auth");
  v1::CreateScheduleResponse resp;
  EXPECT_EQ(stub_->CreateSchedule(Ctx("").get(), req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->CreateSchedule(Ctx("wrong").get(), req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::TriggerScheduleRequest trigger;
  trigger.set_schedule_id("needs-auth");
  v1::TriggerScheduleResponse fired;
  EXPECT_EQ(stub_->TriggerSchedule(Ctx("").get(), trigger, &fired).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.schedules"), 0);
}

}  // namespace
}  // namespace vecsync::api
