// The control plane of the engine: start, cancel, terminate, describe, list and read the
// history of workflow runs. The gRPC API and the CLI are thin layers over this class.
//
// Errors: INVALID_ARGUMENT naming the bad field; NOT_FOUND for an unknown workflow or run;
// ALREADY_EXISTS when a start conflicts with a running or closed run under the given policies;
// FAILED_PRECONDITION when the run is already closed; UNAVAILABLE when PostgreSQL is down.
//
// Example:
//   Client client(&pool, &registry);
//   StartWorkflowRequest req;
//   req.workflow_type = "sync-entity-vectors";
//   req.input = {{"domain", "action"}};
//   ASSIGN_OR_RETURN(StartWorkflowResult started, client.StartWorkflow(req));
//
// Thread-safe.
#ifndef VECSYNC_ENGINE_CLIENT_H_
#define VECSYNC_ENGINE_CLIENT_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/pg_pool.h"
#include "src/engine/registry.h"
#include "src/engine/store.h"
#include "src/engine/types.h"

namespace vecsync::engine {

inline constexpr int kMaxPageSize = 1000;
inline constexpr size_t kMaxIdLength = 1000;

class Client {
 public:
  // `registry` (may be null) validates workflow types and inputs at start. Neither pointer is
  // owned; both must outlive the client.
  Client(PgPool* pool, const Registry* registry);

  // Starts a run, honoring request_id de-duplication and the reuse and conflict policies. The
  // database guarantees at most one RUNNING run per workflow_id, even under concurrent starts.
  absl::StatusOr<StartWorkflowResult> StartWorkflow(StartWorkflowRequest request);

  // Asks the run to cancel: the workflow sees it and its activities are asked to stop.
  // Repeating the request is OK.
  absl::Status RequestCancel(const RunRef& ref, const std::string& reason);

  // Closes the run at once as TERMINATED; its open activities are canceled.
  absl::Status Terminate(const RunRef& ref, const std::string& reason);

  // The run with its pending activities and progress.
  absl::StatusOr<ExecutionInfo> Describe(const RunRef& ref);

  absl::StatusOr<ListWorkflowsResponse> List(const ListWorkflowsRequest& request);

  // The run's events in order, `page_size` (1..1000) at a time.
  absl::StatusOr<HistoryPage> GetHistory(const RunRef& ref, int page_size,
                                         const std::string& page_token);

  // Waits until the run closes; returns it then. DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<ExecutionInfo> WaitForClose(const RunRef& ref, absl::Duration timeout);

 private:
  // Resolves `ref` to a run_id (the latest run when ref.run_id is empty).
  absl::StatusOr<std::string> ResolveRun(PgConnection& conn, const RunRef& ref);
  absl::StatusOr<ExecutionInfo> ReadExecution(PgConnection& conn, const std::string& run_id);

  PgPool* const pool_;
  const Registry* const registry_;
};

// Of `run_ids`, those whose run is RUNNING (an unknown id counts as ended). For code outside the
// engine that keeps state per run and must know when a run has ended, without reading the
// engine's tables. Runs on `conn` (in its transaction, if one is open).
absl::StatusOr<std::set<std::string>> RunningRuns(PgConnection& conn,
                                                  const std::vector<std::string>& run_ids);

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_CLIENT_H_
