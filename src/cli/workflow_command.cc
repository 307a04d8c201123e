// `vecsync workflow start|describe|list|cancel|terminate|history|watch`: clients of a vecsync
// server's WorkflowService (--address, --token-file).
//
// Exit codes: 0 when the command worked (for --wait and watch: the run COMPLETED); 1 for an
// error; 2 for bad usage; 3 FAILED, 4 CANCELED, 5 TERMINATED, 6 TIMED_OUT.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/api/proto_convert.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "src/cli/progress_display.h"
#include "src/common/json.h"
#include "vecsync/v1/workflow_service.grpc.pb.h"

namespace vecsync::cli {
namespace {

struct WorkflowFlags {
  ApiFlags api;
  std::string type;
  std::string input = "{}";
  std::string input_file;
  std::string workflow_id;
  std::string run_id;
  std::string request_id;
  std::string reuse_policy = "ALLOW_DUPLICATE";
  std::string conflict_policy = "FAIL";
  std::string execution_timeout;
  std::string wait_timeout = "24h";
  bool wait = false;
  std::string reason;
  std::vector<std::string> statuses;
  std::string since;
  int page_size = 20;
  bool all = false;
};

// History lines show this much of an event's attributes; --output json shows them whole.
constexpr size_t kHistoryAttributesShown = 200;

// `text` cut to `limit` characters, saying how much was left out.
std::string Abbreviated(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  return absl::StrCat(text.substr(0, limit), "… (", text.size() - limit,
                      " more bytes; --output json shows all)");
}

Json ExecutionJson(const v1::WorkflowExecution& e) {
  Json j = {
      {"workflow_id", e.workflow_id()},           {"run_id", e.run_id()},
      {"workflow_type", e.workflow_type()},       {"status", api::ProtoStatusName(e.status())},
      {"start_time", FormatTime(e.start_time())}, {"input", EmbeddedJson(e.input_json())}};
  if (e.has_close_time()) j["close_time"] = FormatTime(e.close_time());
  if (e.has_execution_deadline()) j["execution_deadline"] = FormatTime(e.execution_deadline());
  if (!e.result_json().empty()) j["result"] = EmbeddedJson(e.result_json());
  if (!e.failure_json().empty()) j["failure"] = EmbeddedJson(e.failure_json());
  if (!e.progress_json().empty()) j["progress"] = EmbeddedJson(e.progress_json());
  if (e.cancel_requested()) j["cancel_requested"] = true;
  Json pending = Json::array();
  for (const v1::PendingActivity& p : e.pending_activities()) {
    Json a = {{"seq", p.seq()},
              {"activity_type", p.activity_type()},
              {"state", p.state()},
              {"attempt", p.attempt()}};
    if (!p.last_failure_json().empty()) a["last_failure"] = EmbeddedJson(p.last_failure_json());
    if (!p.heartbeat_details_json().empty()) {
      a["heartbeat_details"] = EmbeddedJson(p.heartbeat_details_json());
    }
    pending.push_back(std::move(a));
  }
  if (!pending.empty()) j["pending_activities"] = std::move(pending);
  return j;
}

void PrintExecution(const v1::WorkflowExecution& e, const std::string& output) {
  const Json fields = ExecutionJson(e);
  if (output == "json") {
    std::cout << fields.dump(2) << "\n";
    return;
  }
  for (const auto& [key, value] : fields.items()) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
              << "\n";
  }
}

int ExitCodeFor(v1::WorkflowStatus status) {
  switch (status) {
    case v1::WORKFLOW_STATUS_COMPLETED:
      return 0;
    case v1::WORKFLOW_STATUS_FAILED:
      return 3;
    case v1::WORKFLOW_STATUS_CANCELED:
      return 4;
    case v1::WORKFLOW_STATUS_TERMINATED:
      return 5;
    case v1::WORKFLOW_STATUS_TIMED_OUT:
      return 6;
    default:
      return 1;
  }
}

// What Ctrl-C prints while a run is followed: following stops, the run does not. Written by the
// signal handler, so prepared beforehand.
char g_interrupt_note[1024];
size_t g_interrupt_note_size = 0;

void OnInterrupt(int) {
  (void)!write(STDERR_FILENO, g_interrupt_note, g_interrupt_note_size);
  _exit(130);
}

// While it lives, Ctrl-C says the run goes on, and how to follow or stop it.
class RunGoesOnNote {
 public:
  explicit RunGoesOnNote(const std::string& workflow_id);
  ~RunGoesOnNote() { std::signal(SIGINT, SIG_DFL); }
  RunGoesOnNote(const RunGoesOnNote&) = delete;
  RunGoesOnNote& operator=(const RunGoesOnNote&) = delete;
};

RunGoesOnNote::RunGoesOnNote(const std::string& workflow_id) {
  const int n = std::snprintf(
      g_interrupt_note, sizeof(g_interrupt_note),
      "\nstopped following workflow %s; the run goes on in the server (follow it again: "
      "vecsync workflow watch -w %s; stop it: vecsync workflow cancel -w %s)\n",
      workflow_id.c_str(), workflow_id.c_str(), workflow_id.c_str());
  g_interrupt_note_size = std::min<size_t>(std::max(n, 0), sizeof(g_interrupt_note) - 1);
  std::signal(SIGINT, OnInterrupt);
}

// Follows the run until it closes, showing progress on `progress_out` (text output) or one JSON
// document per change on stdout (json output with `stream_json`). Reconnects when the server
// restarts. Returns the closed execution.
absl::StatusOr<v1::WorkflowExecution> Follow(const ApiChannel& api, v1::WorkflowService::Stub& stub,
                                             const WorkflowFlags& flags, FILE* progress_out,
                                             bool stream_json) {
  absl::StatusOr<absl::Duration> timeout = ParseDurationFlag(flags.wait_timeout, "--wait-timeout");
  if (!timeout.ok()) return timeout.status();
  const absl::Time deadline = absl::Now() + *timeout;
  ProgressDisplay display(progress_out);
  const RunGoesOnNote note(flags.workflow_id);
  v1::WatchWorkflowRequest request;
  request.set_workflow_id(flags.workflow_id);
  request.set_run_id(flags.run_id);
  absl::Duration backoff = absl::Milliseconds(200);
  while (true) {
    auto context = api.Context(deadline - absl::Now());
    auto reader = stub.WatchWorkflow(context.get(), request);
    v1::WatchWorkflowResponse update;
    while (reader->Read(&update)) {
      const v1::WorkflowExecution& e = update.execution();
      request.set_run_id(e.run_id());  // Stay on this run after a reconnect.
      if (stream_json) {
        std::cout << ExecutionJson(e).dump() << std::endl;
      } else if (flags.api.output != "json") {
        display.Update(e);
      }
      if (e.status() != v1::WORKFLOW_STATUS_RUNNING) {
        display.Finish();
        reader->Finish().ok();  // The server ends the stream right after.
        return e;
      }
      backoff = absl::Milliseconds(200);
    }
    grpc::Status s = reader->Finish();
    display.Finish();
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("workflow '", flags.workflow_id,
                                                      "' still running after ", flags.wait_timeout,
                                                      " (--wait-timeout)"));
    }
    // The server went away mid-watch (a restart, a deploy): try again until the deadline.
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return api.Error(s);
    absl::SleepFor(std::min(backoff, deadline - absl::Now()));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

void Start(const WorkflowFlags& flags) {
  v1::StartWorkflowRequest req;
  req.set_workflow_type(flags.type);
  req.set_workflow_id(flags.workflow_id);
  req.set_request_id(flags.request_id);
  req.set_input_json(flags.input);
  if (!flags.input_file.empty()) {
    absl::StatusOr<std::string> input = ReadInputFile(flags.input_file);
    if (!input.ok()) return Fail(input.status());
    req.set_input_json(*input);
  }
  // The policy names were checked while parsing.
  v1::WorkflowIdReusePolicy reuse;
  v1::WorkflowIdReusePolicy_Parse("WORKFLOW_ID_REUSE_POLICY_" + flags.reuse_policy, &reuse);
  req.set_reuse_policy(reuse);
  v1::WorkflowIdConflictPolicy conflict;
  v1::WorkflowIdConflictPolicy_Parse("WORKFLOW_ID_CONFLICT_POLICY_" + flags.conflict_policy,
                                     &conflict);
  req.set_conflict_policy(conflict);
  if (!flags.execution_timeout.empty()) {
    auto timeout = ParseDurationFlag(flags.execution_timeout, "--execution-timeout");
    if (!timeout.ok()) return Fail(timeout.status());
    req.mutable_execution_timeout()->set_seconds(absl::ToInt64Seconds(*timeout));
  }
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        v1::StartWorkflowResponse started;
        grpc::Status s = stub.StartWorkflow(api.Context().get(), req, &started);
        if (!s.ok()) return Fail(api.Error(s));
        if (flags.api.output == "json" && !flags.wait) {
          std::cout << Json{{"workflow_id", started.workflow_id()},
                            {"run_id", started.run_id()},
                            {"started", started.started()}}
                           .dump(2)
                    << "\n";
        } else if (flags.api.output != "json") {
          std::cout << (started.started() ? "started" : "already started") << " workflow "
                    << started.workflow_id() << " run " << started.run_id() << std::endl;
        }
        if (!flags.wait) return;
        WorkflowFlags follow = flags;
        follow.workflow_id = started.workflow_id();
        follow.run_id = started.run_id();
        absl::StatusOr<v1::WorkflowExecution> closed =
            Follow(api, stub, follow, stderr, /*stream_json=*/false);
        if (!closed.ok()) return Fail(closed.status());
        PrintExecution(*closed, flags.api.output);
        SetExitCode(ExitCodeFor(closed->status()));
      });
}

void Watch(const WorkflowFlags& flags) {
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        absl::StatusOr<v1::WorkflowExecution> closed =
            Follow(api, stub, flags, stdout, /*stream_json=*/flags.api.output == "json");
        if (!closed.ok()) return Fail(closed.status());
        if (flags.api.output != "json") PrintExecution(*closed, flags.api.output);
        SetExitCode(ExitCodeFor(closed->status()));
      });
}

void Describe(const WorkflowFlags& flags) {
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        v1::DescribeWorkflowRequest req;
        req.set_workflow_id(flags.workflow_id);
        req.set_run_id(flags.run_id);
        v1::DescribeWorkflowResponse resp;
        grpc::Status s = stub.DescribeWorkflow(api.Context().get(), req, &resp);
        if (!s.ok()) return Fail(api.Error(s));
        PrintExecution(resp.execution(), flags.api.output);
      });
}

void List(const WorkflowFlags& flags) {
  v1::ListWorkflowsRequest req;
  req.set_workflow_type(flags.type);
  req.set_page_size(flags.page_size);
  for (const std::string& name : flags.statuses) {
    v1::WorkflowStatus status;  // The names were checked while parsing.
    v1::WorkflowStatus_Parse("WORKFLOW_STATUS_" + name, &status);
    req.add_statuses(status);
  }
  if (!flags.since.empty()) {
    auto since = ParseDurationFlag(flags.since, "--since");
    if (!since.ok()) return Fail(since.status());
    api::ToProtoTime(absl::Now() - *since, req.mutable_start_time_from());
  }
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        int shown = 0;
        Json listed = Json::array();
        while (true) {
          v1::ListWorkflowsResponse page;
          grpc::Status s = stub.ListWorkflows(api.Context().get(), req, &page);
          if (!s.ok()) return Fail(api.Error(s));
          for (const v1::WorkflowExecution& e : page.executions()) {
            ++shown;
            if (flags.api.output == "json") {
              listed.push_back(ExecutionJson(e));
            } else {
              std::cout << FormatTime(e.start_time()) << "  " << api::ProtoStatusName(e.status())
                        << "  " << e.workflow_type() << "  " << e.workflow_id() << "  "
                        << e.run_id() << "\n";
            }
          }
          if (!flags.all || page.next_page_token().empty()) {
            if (!page.next_page_token().empty() && flags.api.output != "json") {
              std::cout << "(more: --all lists every page)\n";
            }
            break;
          }
          req.set_next_page_token(page.next_page_token());
        }
        if (flags.api.output == "json") {
          std::cout << listed.dump(2) << "\n";
        } else if (shown == 0) {
          std::cout << "no workflows\n";
        }
      });
}

void History(const WorkflowFlags& flags) {
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        v1::GetWorkflowHistoryRequest req;
        req.set_workflow_id(flags.workflow_id);
        req.set_run_id(flags.run_id);
        req.set_page_size(1000);
        Json events = Json::array();
        do {
          v1::GetWorkflowHistoryResponse page;
          grpc::Status s = stub.GetWorkflowHistory(api.Context().get(), req, &page);
          if (!s.ok()) return Fail(api.Error(s));
          for (const v1::HistoryEvent& ev : page.events()) {
            if (flags.api.output == "json") {
              events.push_back({{"event_id", ev.event_id()},
                                {"event_type", ev.event_type()},
                                {"event_time", FormatTime(ev.event_time())},
                                {"attributes", EmbeddedJson(ev.attributes_json())}});
            } else {
              std::cout << ev.event_id() << "  " << FormatTime(ev.event_time()) << "  "
                        << ev.event_type() << "  "
                        << Abbreviated(ev.attributes_json(), kHistoryAttributesShown) << "\n";
            }
          }
          req.set_next_page_token(page.next_page_token());
        } while (!req.next_page_token().empty());
        if (flags.api.output == "json") std::cout << events.dump(2) << "\n";
      });
}

void Cancel(const WorkflowFlags& flags) {
  WithStub<v1::WorkflowService>(flags.api, [&](const ApiChannel& api,
                                               v1::WorkflowService::Stub& stub) {
    v1::CancelWorkflowRequest req;
    req.set_workflow_id(flags.workflow_id);
    req.set_run_id(flags.run_id);
    req.set_reason(flags.reason);
    v1::CancelWorkflowResponse resp;
    grpc::Status s = stub.CancelWorkflow(api.Context().get(), req, &resp);
    if (!s.ok()) return Fail(api.Error(s));
    PrintOutcome(flags.api.output, {{"workflow_id", flags.workflow_id}, {"cancel_requested", true}},
                 "cancel requested");
  });
}

void Terminate(const WorkflowFlags& flags) {
  WithStub<v1::WorkflowService>(
      flags.api, [&](const ApiChannel& api, v1::WorkflowService::Stub& stub) {
        v1::TerminateWorkflowRequest req;
        req.set_workflow_id(flags.workflow_id);
        req.set_run_id(flags.run_id);
        req.set_reason(flags.reason);
        v1::TerminateWorkflowResponse resp;
        grpc::Status s = stub.TerminateWorkflow(api.Context().get(), req, &resp);
        if (!s.ok()) return Fail(api.Error(s));
        PrintOutcome(flags.api.output, {{"workflow_id", flags.workflow_id}, {"terminated", true}},
                     "terminated");
      });
}

}  // namespace

void AddWorkflowCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static WorkflowFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* wf = app.add_subcommand("workflow", "Start, follow and inspect workflow runs");
  wf->require_subcommand(1);
  wf->footer(
      "Talks to a vecsync server (vecsync server). Exit codes: 0 ok (with --wait/watch: the run "
      "COMPLETED), 1 error, 2 bad usage, 3 FAILED, 4 CANCELED, 5 TERMINATED, 6 TIMED_OUT.");
  AddApiFlags(wf, &flags->api);

  CLI::App* start = wf->add_subcommand("start", "Start a workflow run");
  start->add_option("--type", flags->type, "Workflow type, e.g. sync-entity-vectors")->required();
  CLI::Option* input =
      start->add_option("--input", flags->input, "Input as a JSON object")->capture_default_str();
  start
      ->add_option("--input-file", flags->input_file,
                   "Read the input from this file ('-' for standard input)")
      ->excludes(input);
  start->add_option("--workflow-id", flags->workflow_id, "Workflow id (generated when empty)");
  start->add_option("--request-id", flags->request_id,
                    "De-duplicates retried starts (generated when empty)");
  start
      ->add_option("--reuse-policy", flags->reuse_policy,
                   "ALLOW_DUPLICATE, ALLOW_DUPLICATE_FAILED_ONLY or REJECT_DUPLICATE")
      ->check(CLI::IsMember({"ALLOW_DUPLICATE", "ALLOW_DUPLICATE_FAILED_ONLY", "REJECT_DUPLICATE"}))
      ->capture_default_str();
  start
      ->add_option("--conflict-policy", flags->conflict_policy,
                   "FAIL, USE_EXISTING or TERMINATE_EXISTING")
      ->check(CLI::IsMember({"FAIL", "USE_EXISTING", "TERMINATE_EXISTING"}))
      ->capture_default_str();
  start
      ->add_option("--execution-timeout", flags->execution_timeout,
                   "Time the run out after this long (e.g. 2h)")
      ->check(DurationValidator());
  start->add_flag("--wait", flags->wait,
                  "Follow the run with a progress display until it closes; exit 0 only if it "
                  "completed");
  start->add_option("--wait-timeout", flags->wait_timeout, "Give up waiting after this long")
      ->check(DurationValidator())
      ->capture_default_str();
  start->callback([flags] { Start(*flags); });

  for (const char* name : {"describe", "cancel", "terminate", "history", "watch"}) {
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
  wf->get_subcommand("cancel")->callback([flags] { Cancel(*flags); });
  wf->get_subcommand("terminate")->description("Close a run at once as TERMINATED");
  wf->get_subcommand("terminate")->callback([flags] { Terminate(*flags); });
  CLI::App* watch = wf->get_subcommand("watch");
  watch->description(
      "Follow a run until it closes: a live progress bar on a terminal, one line per change "
      "otherwise (one JSON document per change with --output json)");
  watch->add_option("--wait-timeout", flags->wait_timeout, "Give up after this long")
      ->check(DurationValidator())
      ->capture_default_str();
  watch->callback([flags] { Watch(*flags); });

  CLI::App* list = wf->add_subcommand("list", "List runs, newest first");
  list->add_option("--type", flags->type, "Only this workflow type");
  list->add_option("--status", flags->statuses,
                   "Only these statuses (RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, "
                   "TIMED_OUT); repeatable")
      ->check(
          CLI::IsMember({"RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "TIMED_OUT"}));
  list->add_option("--since", flags->since, "Only runs started within this long (e.g. 24h)")
      ->check(DurationValidator());
  list->add_option("--page-size", flags->page_size, "Rows per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->add_flag("--all", flags->all, "Every page, not just the first");
  list->callback([flags] { List(*flags); });
  // Each command lists (and takes) the connection flags itself too: its --help answers.
  for (CLI::App* command : wf->get_subcommands({})) AddApiFlags(command, &flags->api);
}

}  // namespace vecsync::cli
