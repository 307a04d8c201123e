// `vecsync workflow start|describe|list|cancel|terminate|history`. These talk to vecsync's
// PostgreSQL database through the engine client (the gRPC API will serve the same calls).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/cli/commands.h"
#include "src/common/json.h"
#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "workflows/register_all.h"

namespace vecsync::cli {
namespace {

struct WorkflowFlags {
  DatabaseFlags db;
  std::string output = "text";
  std::string type;
  std::string input = "{}";
  std::string workflow_id;
  std::string run_id;
  std::string request_id;
  std::string reuse_policy = "ALLOW_DUPLICATE";
  std::string conflict_policy = "FAIL";
  std::string execution_timeout;
  std::string wait_timeout = "24h";
  bool wait = false;
  std::string reason;
  std::string status;
  int page_size = 20;
};

std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

Json ExecutionJson(const engine::ExecutionInfo& e) {
  Json j = {{"workflow_id", e.workflow_id},
            {"run_id", e.run_id},
            {"workflow_type", e.workflow_type},
            {"status", std::string(engine::WorkflowStatusName(e.status))},
            {"start_time", IsoTime(e.start_time)},
            {"input", e.input}};
  if (e.close_time) j["close_time"] = IsoTime(*e.close_time);
  if (!e.result.is_null()) j["result"] = e.result;
  if (!e.failure.is_null()) j["failure"] = e.failure;
  if (!e.progress.is_null()) j["progress"] = e.progress;
  if (e.cancel_requested) j["cancel_requested"] = true;
  Json pending = Json::array();
  for (const auto& p : e.pending_activities) {
    Json a = {{"seq", p.seq},
              {"activity_type", p.activity_type},
              {"state", p.state},
              {"attempt", p.attempt}};
    if (!p.last_failure.is_null()) a["last_failure"] = p.last_failure;
    if (!p.heartbeat_details.is_null()) a["heartbeat_details"] = p.heartbeat_details;
    pending.push_back(std::move(a));
  }
  if (!pending.empty()) j["pending_activities"] = std::move(pending);
  return j;
}

void PrintExecution(const engine::ExecutionInfo& e, const std::string& output) {
  if (output == "json") {
    std::cout << ExecutionJson(e).dump(2) << "\n";
    return;
  }
  const Json fields = ExecutionJson(e);
  for (const auto& [key, value] : fields.items()) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
              << "\n";
  }
}

int ExitCodeFor(engine::WorkflowStatus status) {
  return status == engine::WorkflowStatus::kCompleted ? 0 : 3;
}

// Runs `fn` with a client on the database the flags name.
template <typename Fn>
void WithClient(const WorkflowFlags& flags, Fn fn) {
  PgPool pool(flags.db.pg_url, 2);
  engine::Registry registry;
  if (absl::Status s = workflows::RegisterAllWorkflows(&registry, nullptr); !s.ok()) return Fail(s);
  engine::Client client(&pool, &registry);
  fn(client);
}

void Start(const WorkflowFlags& flags) {
  engine::StartWorkflowRequest req;
  req.workflow_type = flags.type;
  req.workflow_id = flags.workflow_id;
  req.request_id = flags.request_id;
  auto input = ParseJson(flags.input, "--input");
  if (!input.ok()) return Fail(input.status());
  req.input = std::move(*input);
  auto reuse = engine::ParseReusePolicy(flags.reuse_policy);
  if (!reuse.ok()) return Fail(reuse.status());
  req.reuse_policy = *reuse;
  auto conflict = engine::ParseConflictPolicy(flags.conflict_policy);
  if (!conflict.ok()) return Fail(conflict.status());
  req.conflict_policy = *conflict;
  if (!flags.execution_timeout.empty()) {
    auto timeout = ParseDurationFlag(flags.execution_timeout, "--execution-timeout");
    if (!timeout.ok()) return Fail(timeout.status());
    req.execution_timeout = *timeout;
  }
  auto wait_timeout = ParseDurationFlag(flags.wait_timeout, "--wait-timeout");
  if (!wait_timeout.ok()) return Fail(wait_timeout.status());
  WithClient(flags, [&](engine::Client& client) {
    auto started = client.StartWorkflow(req);
    if (!started.ok()) return Fail(started.status());
    if (flags.output == "json" && !flags.wait) {
      std::cout << Json{{"workflow_id", started->workflow_id},
                        {"run_id", started->run_id},
                        {"started", started->started}}
                       .dump(2)
                << "\n";
    } else if (flags.output != "json") {
      std::cout << (started->started ? "started" : "already started") << " workflow "
                << started->workflow_id << " run " << started->run_id << "\n";
    }
    if (!flags.wait) return;
    auto closed = client.WaitForClose({started->workflow_id, started->run_id}, *wait_timeout);
    if (!closed.ok()) return Fail(closed.status());
    PrintExecution(*closed, flags.output);
    SetExitCode(ExitCodeFor(closed->status));
  });
}

void Describe(const WorkflowFlags& flags) {
  WithClient(flags, [&](engine::Client& client) {
    auto e = client.Describe({flags.workflow_id, flags.run_id});
    if (!e.ok()) return Fail(e.status());
    PrintExecution(*e, flags.output);
  });
}

void List(const WorkflowFlags& flags) {
  engine::ListWorkflowsRequest req;
  req.workflow_type = flags.type;
  req.page_size = flags.page_size;
  if (!flags.status.empty()) {
    auto status = engine::ParseWorkflowStatus(flags.status);
    if (!status.ok()) return Fail(status.status());
    req.statuses = {*status};
  }
  WithClient(flags, [&](engine::Client& client) {
    auto page = client.List(req);
    if (!page.ok()) return Fail(page.status());
    if (flags.output == "json") {
      Json rows = Json::array();
      for (const auto& e : page->executions) rows.push_back(ExecutionJson(e));
      std::cout << Json{{"executions", rows}, {"next_page_token", page->next_page_token}}.dump(2)
                << "\n";
      return;
    }
    for (const auto& e : page->executions) {
      std::cout << IsoTime(e.start_time) << "  " << engine::WorkflowStatusName(e.status) << "  "
                << e.workflow_type << "  " << e.workflow_id << "  " << e.run_id << "\n";
    }
    if (page->executions.empty()) std::cout << "no workflows\n";
  });
}

void History(const WorkflowFlags& flags) {
  WithClient(flags, [&](engine::Client& client) {
    std::string token;
    do {
      auto page = client.GetHistory({flags.workflow_id, flags.run_id}, 1000, token);
      if (!page.ok()) return Fail(page.status());
      for (const auto& ev : page->events) {
        if (flags.output == "json") {
          std::cout << Json{{"event_id", ev.event_id},
                            {"event_type", ev.event_type},
                            {"event_time", IsoTime(ev.event_time)},
                            {"attributes", ev.attributes}}
                           .dump()
                    << "\n";
        } else {
          std::cout << ev.event_id << "  " << IsoTime(ev.event_time) << "  " << ev.event_type
                    << "  " << ev.attributes.dump() << "\n";
        }
      }
      token = page->next_page_token;
    } while (!token.empty());
  });
}

}  // namespace

void AddWorkflowCommand(CLI::App& app) {
  auto* flags = new WorkflowFlags;
  CLI::App* wf = app.add_subcommand("workflow", "Start and inspect workflow runs");
  wf->require_subcommand(1);
  AddDatabaseFlags(wf, &flags->db);
  wf->add_option("--output", flags->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  CLI::App* start = wf->add_subcommand("start", "Start a workflow run");
  start->add_option("--type", flags->type, "Workflow type, e.g. sync-entity-vectors")->required();
  start->add_option("--input", flags->input, "Input as a JSON object")->capture_default_str();
  start->add_option("--workflow-id", flags->workflow_id, "Workflow id (generated when empty)");
  start->add_option("--request-id", flags->request_id,
                    "De-duplicates retried starts (generated when empty)");
  start
      ->add_option("--reuse-policy", flags->reuse_policy,
                   "ALLOW_DUPLICATE, ALLOW_DUPLICATE_FAILED_ONLY or REJECT_DUPLICATE")
      ->capture_default_str();
  start
      ->add_option("--conflict-policy", flags->conflict_policy,
                   "FAIL, USE_EXISTING or TERMINATE_EXISTING")
      ->capture_default_str();
  start->add_option("--execution-timeout", flags->execution_timeout,
                    "Time the run out after this long (e.g. 2h)");
  start->add_flag("--wait", flags->wait, "Wait for the run to close; exit 0 only if it completed");
  start->add_option("--wait-timeout", flags->wait_timeout, "Give up waiting after this long")
      ->capture_default_str();
  start->callback([flags] { Start(*flags); });

  for (const char* name : {"describe", "cancel", "terminate", "history"}) {
    CLI::App* cmd = wf->add_subcommand(name);
    cmd->add_option("--workflow-id,-w", flags->workflow_id, "Workflow id")->required();
    cmd->add_option("--run-id,-r", flags->run_id, "Run id (default: the latest run)");
    if (std::string(name) == "cancel" || std::string(name) == "terminate") {
      cmd->add_option("--reason", flags->reason, "Why (recorded in the history)");
    }
  }
  wf->get_subcommand("describe")->description("Show a run, its pending activities and progress");
  wf->get_subcommand("describe")->callback([flags] { Describe(*flags); });
  wf->get_subcommand("history")->description("Print a run's history events");
  wf->get_subcommand("history")->callback([flags] { History(*flags); });
  wf->get_subcommand("cancel")->description("Ask a run to cancel gracefully");
  wf->get_subcommand("cancel")->callback([flags] {
    WithClient(*flags, [&](engine::Client& client) {
      absl::Status s = client.RequestCancel({flags->workflow_id, flags->run_id}, flags->reason);
      if (!s.ok()) return Fail(s);
      std::cout << "cancel requested\n";
    });
  });
  wf->get_subcommand("terminate")->description("Close a run at once as TERMINATED");
  wf->get_subcommand("terminate")->callback([flags] {
    WithClient(*flags, [&](engine::Client& client) {
      absl::Status s = client.Terminate({flags->workflow_id, flags->run_id}, flags->reason);
      if (!s.ok()) return Fail(s);
      std::cout << "terminated\n";
    });
  });

  CLI::App* list = wf->add_subcommand("list", "List runs, newest first");
  list->add_option("--type", flags->type, "Only this workflow type");
  list->add_option("--status", flags->status, "Only this status (RUNNING, COMPLETED, …)");
  list->add_option("--page-size", flags->page_size, "Rows to show")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->callback([flags] { List(*flags); });
}

}  // namespace vecsync::cli
