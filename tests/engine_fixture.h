// A fixture with a fresh engine schema, the test workflows registered, a client, and helpers
// to run workers against the test database.
#ifndef VECSYNC_TESTS_ENGINE_FIXTURE_H_
#define VECSYNC_TESTS_ENGINE_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "src/engine/registry.h"
#include "src/engine/worker.h"
#include "tests/test_env.h"
#include "tests/test_workflows.h"

namespace vecsync::testing {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ResetEngineSchema().ok());
    ASSERT_TRUE(ResetActivityLog(TestDatabaseUrl()).ok());
    registry_ = std::make_unique<engine::Registry>();
    ASSERT_TRUE(RegisterTestWorkflows(registry_.get(), TestDatabaseUrl()).ok());
    pool_ = std::make_unique<PgPool>(TestDatabaseUrl(), 8);
    client_ = std::make_unique<engine::Client>(pool_.get(), registry_.get());
  }

  // Fast intervals so tests run quickly.
  static engine::WorkerOptions FastOptions() {
    engine::WorkerOptions o;
    o.lease_duration = absl::Seconds(2);
    o.poll_interval = absl::Milliseconds(100);
    o.sweep_interval = absl::Milliseconds(100);
    o.heartbeat_throttle = absl::Milliseconds(50);
    o.shutdown_grace = absl::Seconds(2);
    return o;
  }

  std::unique_ptr<engine::Worker> StartWorker(engine::WorkerOptions options = FastOptions()) {
    auto worker =
        std::make_unique<engine::Worker>(TestDatabaseUrl(), registry_.get(), std::move(options));
    absl::Status s = worker->Start();
    EXPECT_TRUE(s.ok()) << s;
    return worker;
  }

  engine::StartWorkflowResult Start(const std::string& type, Json input,
                                    const std::string& workflow_id = "") {
    engine::StartWorkflowRequest req;
    req.workflow_type = type;
    req.workflow_id = workflow_id;
    req.input = std::move(input);
    auto r = client_->StartWorkflow(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : engine::StartWorkflowResult{};
  }

  engine::ExecutionInfo WaitClosed(const engine::StartWorkflowResult& started,
                                   absl::Duration timeout = absl::Seconds(30)) {
    auto e = client_->WaitForClose({started.workflow_id, started.run_id}, timeout);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : engine::ExecutionInfo{};
  }

  // Runs a scalar query in the test database.
  int64_t QueryInt(const std::string& sql) {
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.ok());
    auto r = (*conn)->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status() << " " << sql;
    return r.ok() && r->rows() > 0 ? r->GetInt64(0, 0) : -1;
  }
  void Exec(const std::string& sql) {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    absl::Status s = (*conn)->Execute(sql);
    ASSERT_TRUE(s.ok()) << s << " " << sql;
  }

  std::unique_ptr<engine::Registry> registry_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<engine::Client> client_;
};

}  // namespace vecsync::testing

#endif  // VECSYNC_TESTS_ENGINE_FIXTURE_H_
