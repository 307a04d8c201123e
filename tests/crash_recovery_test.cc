// SIGKILLs a worker process in the middle of a workflow and shows another process finishing
// it without running completed activities again.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "tests/engine_fixture.h"

namespace vecsync::engine {
namespace {

using ::vecsync::testing::EngineTest;
using ::vecsync::testing::TestDatabaseUrl;
using ::vecsync::testing::WaitUntil;

pid_t SpawnWorker() {
  pid_t pid = fork();
  if (pid == 0) {
    execl(ENGINE_TEST_WORKER, ENGINE_TEST_WORKER, TestDatabaseUrl().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

class CrashRecoveryTest : public EngineTest {};

TEST_F(CrashRecoveryTest, AnotherProcessFinishesAKilledWorkersWorkflow) {
  auto started = Start("sequence", {{"count", 12}, {"sleep_ms", 150}});
  pid_t first = SpawnWorker();
  ASSERT_GT(first, 0);
  ASSERT_TRUE(WaitUntil([&] { return QueryInt("SELECT count(*) FROM activity_log") >= 4; },
                        absl::Seconds(30)));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  int status = 0;
  waitpid(first, &status, 0);
  // What had completed when the process died must never run again.
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto done = (*conn)->Query("SELECT seq FROM vecsync.steps WHERE status = 'COMPLETED'");
  ASSERT_TRUE(done.ok());
  std::set<int64_t> completed;
  for (int i = 0; i < done->rows(); ++i) completed.insert(done->GetInt64(i, 0));
  ASSERT_GE(completed.size(), 3u);

  pid_t second = SpawnWorker();
  ExecutionInfo e = WaitClosed(started, absl::Seconds(60));
  kill(second, SIGTERM);
  waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "graceful exit on SIGTERM";

  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["sum"], 66);
  for (int64_t seq : completed) {
    EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log WHERE seq = " + std::to_string(seq)), 1)
        << "completed activity " << seq << " ran again";
  }
  // Every activity ran, the one in flight at the kill at most twice (at least once delivery).
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT seq) FROM activity_log"), 12);
  EXPECT_LE(QueryInt("SELECT count(*) FROM activity_log"), 13);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT pid) FROM activity_log"), 2);
}

}  // namespace
}  // namespace vecsync::engine
