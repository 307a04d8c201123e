// A worker process for the crash test: runs the test workflows against the database named by
// argv[1] until killed or sent SIGTERM.
#include <atomic>
#include <csignal>
#include <iostream>

#include "absl/time/clock.h"
#include "src/engine/worker.h"
#include "tests/test_workflows.h"

namespace {
// Set by SIGTERM. A lock-free atomic: all a signal handler may safely touch.
std::atomic<bool> g_stop_requested{false};
void OnSignal(int) { g_stop_requested.store(true); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: engine_test_worker PG_URL\n";
    return 2;
  }
  vecsync::engine::Registry registry;
  absl::Status s = vecsync::testing::RegisterTestWorkflows(&registry, argv[1]);
  vecsync::engine::WorkerOptions options;
  options.lease_duration = absl::Seconds(2);
  options.poll_interval = absl::Milliseconds(100);
  options.sweep_interval = absl::Milliseconds(100);
  vecsync::engine::Worker worker(argv[1], &registry, options);
  if (s.ok()) s = worker.Start();
  if (!s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  std::signal(SIGTERM, OnSignal);
  while (!g_stop_requested.load()) absl::SleepFor(absl::Milliseconds(20));
  worker.Shutdown();
  return 0;
}
