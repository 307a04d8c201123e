// Engine throughput, measured against the raw rate of the same database in one run.
//
//   engine_bench [--quick]
//
// Prints, from one run on the PostgreSQL named by VECSYNC_PG_URL (a private database is
// created and dropped):
//   1. no-op activities per second through the engine with one and with two worker processes;
//   2. the raw rate of a plain `FOR UPDATE SKIP LOCKED` claim-and-complete loop (one connection
//      per worker process, same database), and the ratio engine / raw;
//   3. StartWorkflow calls per second and their p50 / p99 latency.
// Targets: engine ≥ 0.5 × raw, and ≥ 1,000 activities/s.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_check.h"
#include "src/common/pg.h"
#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "tests/test_env.h"
#include "tests/test_workflows.h"

namespace vecsync {
namespace {

using testing::TestDatabaseUrl;

struct Sizes {
  int workflows = 8;
  int activities_per_workflow = 2500;
  int wave = 250;
  int raw_jobs = 10000;
  int starts = 2000;
};

using bench::Check;

pid_t SpawnWorker() {
  pid_t pid = fork();
  if (pid == 0) {
    // The worker's own log lines would drown the report.
    freopen("/dev/null", "w", stderr);
    execl(ENGINE_TEST_WORKER, ENGINE_TEST_WORKER, TestDatabaseUrl().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

void StopWorkers(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) kill(p, SIGTERM);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
}

// Runs `sizes.workflows` fan-out workflows on `processes` worker processes; returns
// activities per second from the first start to the last close.
double EngineRate(int processes, const Sizes& sizes) {
  Check(testing::ResetEngineSchema(), "reset schema");
  PgPool pool(TestDatabaseUrl(), 2);
  engine::Client client(&pool, nullptr);
  std::vector<pid_t> workers;
  for (int i = 0; i < processes; ++i) workers.push_back(SpawnWorker());
  absl::SleepFor(absl::Milliseconds(500));  // Let the workers connect and go idle.

  const absl::Time begin = absl::Now();
  std::vector<engine::StartWorkflowResult> runs;
  for (int i = 0; i < sizes.workflows; ++i) {
    engine::StartWorkflowRequest req;
    req.workflow_type = "fanout";
    req.input = {{"count", sizes.activities_per_workflow}, {"wave", sizes.wave}};
    auto r = client.StartWorkflow(req);
    Check(r.status(), "start");
    runs.push_back(*r);
  }
  for (const auto& r : runs) {
    auto e = client.WaitForClose({r.workflow_id, r.run_id}, absl::Minutes(10));
    Check(e.status(), "wait");
    if (e->status != engine::WorkflowStatus::kCompleted) {
      std::fprintf(stderr, "engine_bench: a run ended %s: %s\n",
                   std::string(engine::WorkflowStatusName(e->status)).c_str(),
                   e->failure.dump().c_str());
      std::exit(1);
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  StopWorkers(workers);
  return sizes.workflows * sizes.activities_per_workflow / seconds;
}

// A plain job table drained by `connections` loops, each claiming one row with
// FOR UPDATE SKIP LOCKED and completing it: the rate PostgreSQL itself allows.
double RawRate(int connections, const Sizes& sizes) {
  auto setup = PgConnection::Connect(TestDatabaseUrl());
  Check(setup.status(), "connect");
  Check((*setup)->Execute("DROP TABLE IF EXISTS bench_jobs;"
                          "CREATE TABLE bench_jobs (id bigserial PRIMARY KEY, payload jsonb, "
                          "  status text NOT NULL, done_at timestamptz);"
                          "CREATE INDEX ON bench_jobs (id) WHERE status = 'ready';"),
        "create jobs");
  Check((*setup)
            ->Query("INSERT INTO bench_jobs (payload, status) "
                    "SELECT '{}'::jsonb, 'ready' FROM generate_series(1, $1)",
                    sizes.raw_jobs)
            .status(),
        "fill jobs");
  const absl::Time begin = absl::Now();
  std::vector<std::thread> loops;
  for (int i = 0; i < connections; ++i) {
    loops.emplace_back([] {
      auto conn = PgConnection::Connect(TestDatabaseUrl());
      Check(conn.status(), "connect");
      while (true) {
        auto claimed = (*conn)->Query(
            "UPDATE bench_jobs SET status = 'running' WHERE id = ("
            "  SELECT id FROM bench_jobs WHERE status = 'ready' ORDER BY id LIMIT 1 "
            "  FOR UPDATE SKIP LOCKED) RETURNING id, payload");
        Check(claimed.status(), "claim");
        if (claimed->rows() == 0) return;
        Check((*conn)
                  ->Query("UPDATE bench_jobs SET status = 'done', done_at = now() WHERE id = $1",
                          claimed->GetString(0, 0))
                  .status(),
              "complete");
      }
    });
  }
  for (auto& t : loops) t.join();
  return sizes.raw_jobs / absl::ToDoubleSeconds(absl::Now() - begin);
}

void StartLatency(const Sizes& sizes) {
  Check(testing::ResetEngineSchema(), "reset schema");
  PgPool pool(TestDatabaseUrl(), 1);
  engine::Client client(&pool, nullptr);
  std::vector<double> ms;
  const absl::Time begin = absl::Now();
  for (int i = 0; i < sizes.starts; ++i) {
    engine::StartWorkflowRequest req;
    req.workflow_type = "sequence";
    const absl::Time t0 = absl::Now();
    Check(client.StartWorkflow(req).status(), "start");
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  const double rate = sizes.starts / absl::ToDoubleSeconds(absl::Now() - begin);
  std::sort(ms.begin(), ms.end());
  std::printf("start-workflow: %.0f calls/s (one client), p50 %.2f ms, p99 %.2f ms\n", rate,
              ms[ms.size() / 2], ms[ms.size() * 99 / 100]);
}

}  // namespace
}  // namespace vecsync

int main(int argc, char** argv) {
  using namespace vecsync;  // NOLINT(google-build-using-namespace): a benchmark main.
  Sizes sizes;
  if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) {
    sizes = Sizes{2, 200, 100, 500, 100};
  }
  Check(testing::ResetActivityLog(TestDatabaseUrl()), "activity log");
  const double raw1 = RawRate(1, sizes);
  const double raw2 = RawRate(2, sizes);
  const double engine1 = EngineRate(1, sizes);
  const double engine2 = EngineRate(2, sizes);
  std::printf("no-op activities: %d workflows × %d activities (waves of %d)\n", sizes.workflows,
              sizes.activities_per_workflow, sizes.wave);
  std::printf("  raw SKIP LOCKED claim+complete, 1 connection:  %8.0f jobs/s\n", raw1);
  std::printf("  raw SKIP LOCKED claim+complete, 2 connections: %8.0f jobs/s\n", raw2);
  std::printf(
      "  engine, 1 worker process:  %8.0f activities/s  ratio to raw(1) %.2f (target >= 0.5)\n",
      engine1, engine1 / raw1);
  std::printf(
      "  engine, 2 worker processes: %8.0f activities/s  ratio to raw(2) %.2f (target >= 0.5)\n",
      engine2, engine2 / raw2);
  std::printf("  engine scaling 2 vs 1 worker: %.2f\n", engine2 / engine1);
  std::printf("  target >= 1000 activities/s: %s\n",
              std::max(engine1, engine2) >= 1000 ? "met" : "NOT met");
  StartLatency(sizes);
  return 0;
}
