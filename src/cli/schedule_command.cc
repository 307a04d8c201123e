// `vecsync schedule create|describe|list|update|delete|pause|unpause|trigger`: clients of a
// vecsync server's ScheduleService (--address, --token-file).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/api/proto_convert.h"
#include "src/api/schedule_service.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "src/common/json.h"
#include "vecsync/v1/schedule_service.grpc.pb.h"

namespace vecsync::cli {
namespace {

struct ScheduleFlags {
  ApiFlags api;
  std::string schedule_id;
  std::string cron;
  std::string time_zone = "UTC";
  std::string jitter = "0s";
  std::string type;
  std::string input = "{}";
  std::string input_file;
  std::string execution_timeout;
  std::string overlap = "SKIP";
  std::string catchup_window = "8760h";
  bool paused = false;
  std::string note;
  int page_size = 100;
  // The definition options, to tell which ones `update` was given.
  std::vector<CLI::Option*> definition_options;
};

const CLI::IsMember kOverlapPolicies({"SKIP", "BUFFER_ONE", "ALLOW_ALL", "CANCEL_OTHER",
                                      "TERMINATE_OTHER"});

std::string OverlapName(v1::ScheduleOverlapPolicy p) {
  std::string name = v1::ScheduleOverlapPolicy_Name(p);
  const std::string prefix = "SCHEDULE_OVERLAP_POLICY_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

absl::StatusOr<v1::ScheduleOverlapPolicy> ParseOverlap(const std::string& name, const char* flag) {
  v1::ScheduleOverlapPolicy p;
  if (!v1::ScheduleOverlapPolicy_Parse("SCHEDULE_OVERLAP_POLICY_" + name, &p) ||
      p == v1::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " must be SKIP, BUFFER_ONE, ALLOW_ALL, CANCEL_OTHER or TERMINATE_OTHER, not '", name,
        "'"));
  }
  return p;
}

// Applies the definition flags to `schedule`: all of them, or with `only_given` those the user
// passed (for update).
absl::Status ApplyFlags(const ScheduleFlags& flags, bool only_given, v1::Schedule* schedule) {
  auto given = [&](const char* name) {
    if (!only_given) return true;
    for (CLI::Option* o : flags.definition_options) {
      if (o->check_lname(name) && o->count() > 0) return true;
    }
    return false;
  };
  if (given("cron")) schedule->mutable_spec()->set_cron_string(flags.cron);
  if (given("time-zone")) schedule->mutable_spec()->set_time_zone(flags.time_zone);
  if (given("jitter")) {
    auto d = ParseDurationFlag(flags.jitter, "--jitter");
    if (!d.ok()) return d.status();
    api::ToProtoDuration(*d, schedule->mutable_spec()->mutable_jitter());
  }
  if (given("type")) schedule->mutable_action()->set_workflow_type(flags.type);
  if (!flags.input_file.empty()) {
    absl::StatusOr<std::string> input = ReadInputFile(flags.input_file);
    if (!input.ok()) return input.status();
    schedule->mutable_action()->set_input_json(*input);
  } else if (given("input")) {
    schedule->mutable_action()->set_input_json(flags.input);
  }
  if (given("execution-timeout") && !flags.execution_timeout.empty()) {
    auto d = ParseDurationFlag(flags.execution_timeout, "--execution-timeout");
    if (!d.ok()) return d.status();
    api::ToProtoDuration(*d, schedule->mutable_action()->mutable_execution_timeout());
  }
  if (given("overlap")) {
    auto p = ParseOverlap(flags.overlap, "--overlap");
    if (!p.ok()) return p.status();
    schedule->mutable_policies()->set_overlap_policy(*p);
  }
  if (given("catchup-window")) {
    auto d = ParseDurationFlag(flags.catchup_window, "--catchup-window");
    if (!d.ok()) return d.status();
    api::ToProtoDuration(*d, schedule->mutable_policies()->mutable_catchup_window());
  }
  if (!only_given) {
    schedule->mutable_state()->set_paused(flags.paused);
    schedule->mutable_state()->set_notes(flags.note);
  }
  return absl::OkStatus();
}

Json ScheduleJson(const std::string& id, const v1::Schedule& s, const v1::ScheduleInfo& info) {
  absl::StatusOr<Json> input = ParseJson(s.action().input_json(), "input");
  Json j = {{"schedule_id", id},
            {"cron", s.spec().cron_string()},
            {"time_zone", s.spec().time_zone()},
            {"jitter", absl::FormatDuration(api::FromProtoDuration(s.spec().jitter()))},
            {"workflow_type", s.action().workflow_type()},
            {"input", input.ok() ? *input : Json(s.action().input_json())},
            {"overlap_policy", OverlapName(s.policies().overlap_policy())},
            {"catchup_window",
             absl::FormatDuration(api::FromProtoDuration(s.policies().catchup_window()))},
            {"paused", s.state().paused()},
            {"notes", s.state().notes()},
            {"action_count", info.action_count()},
            {"missed_catchup_window", info.missed_catchup_window()},
            {"overlap_skipped", info.overlap_skipped()}};
  if (s.action().has_execution_timeout()) {
    j["execution_timeout"] =
        absl::FormatDuration(api::FromProtoDuration(s.action().execution_timeout()));
  }
  Json next = Json::array();
  for (const auto& t : info.future_action_times()) next.push_back(FormatTime(t));
  j["next_action_times"] = next;
  Json running = Json::array();
  for (const auto& r : info.running_workflows()) {
    running.push_back({{"workflow_id", r.workflow_id()}, {"run_id", r.run_id()}});
  }
  if (!running.empty()) j["running_workflows"] = running;
  if (info.has_buffered_action_time()) {
    j["buffered_action_time"] = FormatTime(info.buffered_action_time());
  }
  Json recent = Json::array();
  for (const auto& a : info.recent_actions()) {
    Json r = {{"schedule_time", FormatTime(a.schedule_time())},
              {"workflow_id", a.workflow_id()},
              {"run_id", a.run_id()}};
    if (a.manual()) r["manual"] = true;
    if (!a.error().empty()) r["error"] = a.error();
    recent.push_back(std::move(r));
  }
  if (!recent.empty()) j["recent_actions"] = recent;
  return j;
}

void PrintSchedule(const Json& j, const std::string& output) {
  if (output == "json") {
    std::cout << j.dump(2) << "\n";
    return;
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "next_action_times" || key == "recent_actions" || key == "running_workflows") {
      continue;
    }
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
              << "\n";
  }
  for (const auto& r : j.value("running_workflows", Json::array())) {
    std::cout << "running: " << r["workflow_id"].get<std::string>() << " "
              << r["run_id"].get<std::string>() << "\n";
  }
  std::cout << "next actions:";
  if (j["next_action_times"].empty()) std::cout << " none";
  for (const auto& t : j["next_action_times"]) std::cout << "\n  " << t.get<std::string>();
  std::cout << "\n";
  if (j.contains("recent_actions")) {
    std::cout << "recent actions:\n";
    for (const auto& a : j["recent_actions"]) {
      std::cout << "  " << a["schedule_time"].get<std::string>() << "  "
                << a["workflow_id"].get<std::string>()
                << (a.value("manual", false) ? "  (triggered)" : "")
                << (a.contains("error") ? "  failed: " + a["error"].get<std::string>() : "")
                << "\n";
    }
  }
}

void Create(const ScheduleFlags& flags) {
  v1::CreateScheduleRequest req;
  req.set_schedule_id(flags.schedule_id);
  if (absl::Status s = ApplyFlags(flags, false, req.mutable_schedule()); !s.ok()) return Fail(s);
  WithStub<v1::ScheduleService>(
      flags.api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
        v1::CreateScheduleResponse resp;
        grpc::Status s = stub.CreateSchedule(api.Context().get(), req, &resp);
        if (!s.ok()) return Fail(api.Error(s));
        PrintOutcome(flags.api.output, {{"schedule_id", flags.schedule_id}, {"created", true}},
                     "created schedule " + flags.schedule_id);
      });
}

void Describe(const ScheduleFlags& flags) {
  WithStub<v1::ScheduleService>(flags.api, [&](const ApiChannel& api,
                                               v1::ScheduleService::Stub& stub) {
    v1::DescribeScheduleRequest req;
    req.set_schedule_id(flags.schedule_id);
    v1::DescribeScheduleResponse resp;
    grpc::Status s = stub.DescribeSchedule(api.Context().get(), req, &resp);
    if (!s.ok()) return Fail(api.Error(s));
    PrintSchedule(ScheduleJson(flags.schedule_id, resp.schedule(), resp.info()), flags.api.output);
  });
}

void List(const ScheduleFlags& flags) {
  WithStub<v1::ScheduleService>(
      flags.api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
        v1::ListSchedulesRequest req;
        req.set_page_size(flags.page_size);
        int shown = 0;
        Json listed = Json::array();
        do {
          v1::ListSchedulesResponse page;
          grpc::Status s = stub.ListSchedules(api.Context().get(), req, &page);
          if (!s.ok()) return Fail(api.Error(s));
          for (const auto& e : page.schedules()) {
            ++shown;
            if (flags.api.output == "json") {
              listed.push_back(ScheduleJson(e.schedule_id(), e.schedule(), e.info()));
              continue;
            }
            const std::string next = e.schedule().state().paused() ? "paused"
                                     : e.info().future_action_times().empty()
                                         ? "no more actions"
                                         : "next " + FormatTime(e.info().future_action_times(0));
            std::cout << e.schedule_id() << "  '" << e.schedule().spec().cron_string() << "'  "
                      << e.schedule().action().workflow_type() << "  " << next << "  actions "
                      << e.info().action_count() << "\n";
          }
          req.set_next_page_token(page.next_page_token());
        } while (!req.next_page_token().empty());
        if (flags.api.output == "json") {
          std::cout << listed.dump(2) << "\n";
        } else if (shown == 0) {
          std::cout << "no schedules\n";
        }
      });
}

void Update(const ScheduleFlags& flags) {
  WithStub<v1::ScheduleService>(
      flags.api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
        // Read, change what was given, write back only if nobody changed it in between.
        v1::DescribeScheduleRequest read;
        read.set_schedule_id(flags.schedule_id);
        v1::DescribeScheduleResponse current;
        grpc::Status s = stub.DescribeSchedule(api.Context().get(), read, &current);
        if (!s.ok()) return Fail(api.Error(s));
        v1::UpdateScheduleRequest req;
        req.set_schedule_id(flags.schedule_id);
        *req.mutable_schedule() = current.schedule();
        if (absl::Status a = ApplyFlags(flags, true, req.mutable_schedule()); !a.ok())
          return Fail(a);
        req.set_conflict_token(current.conflict_token());
        v1::UpdateScheduleResponse resp;
        s = stub.UpdateSchedule(api.Context().get(), req, &resp);
        if (!s.ok()) return Fail(api.Error(s));
        PrintOutcome(flags.api.output, {{"schedule_id", flags.schedule_id}, {"updated", true}},
                     "updated schedule " + flags.schedule_id);
      });
}

void Trigger(const ScheduleFlags& flags, bool overlap_given) {
  v1::TriggerScheduleRequest req;
  req.set_schedule_id(flags.schedule_id);
  if (overlap_given) {
    auto p = ParseOverlap(flags.overlap, "--overlap");
    if (!p.ok()) return Fail(p.status());
    req.set_overlap_policy(*p);
  }
  WithStub<v1::ScheduleService>(flags.api, [&](const ApiChannel& api,
                                               v1::ScheduleService::Stub& stub) {
    v1::TriggerScheduleResponse resp;
    grpc::Status s = stub.TriggerSchedule(api.Context().get(), req, &resp);
    if (!s.ok()) return Fail(api.Error(s));
    if (flags.api.output == "json") {
      std::cout << Json{{"started", resp.started()},
                        {"outcome", resp.outcome()},
                        {"workflow_id", resp.workflow_id()},
                        {"run_id", resp.run_id()}}
                       .dump(2)
                << "\n";
    } else if (resp.started()) {
      std::cout << "started workflow " << resp.workflow_id() << " run " << resp.run_id() << "\n";
    } else {
      std::cout << resp.outcome() << " (the previous run is still running; --overlap ALLOW_ALL "
                << "starts anyway)\n";
    }
  });
}

}  // namespace

void AddScheduleCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static ScheduleFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* sc = app.add_subcommand("schedule", "Create and manage cron schedules");
  sc->require_subcommand(1);
  sc->footer(
      "Cron: 5 fields (minute hour day-of-month month day-of-week), 6 (… year), 7 (second … "
      "year), @hourly/@daily/@weekly/@monthly/@yearly, or '@every 30m[/phase]'; CRON_TZ=<zone> "
      "may prefix it. Times match the zone's wall clock: a time skipped by DST does not fire, a "
      "repeated one fires twice (as in Temporal).");
  AddApiFlags(sc, &flags->api);

  auto add_id = [flags](CLI::App* cmd) {
    cmd->add_option("--schedule-id,-s", flags->schedule_id, "Schedule id")->required();
  };
  auto add_definition = [flags](CLI::App* cmd, bool required) {
    auto keep = [flags](CLI::Option* o) {
      flags->definition_options.push_back(o);
      return o;
    };
    auto* cron = keep(cmd->add_option("--cron", flags->cron, "When to act (see below)"));
    auto* type = keep(cmd->add_option("--type", flags->type, "Workflow type to start"));
    if (required) {
      cron->required();
      type->required();
    }
    keep(cmd->add_option("--time-zone", flags->time_zone, "IANA time zone for the cron fields")
             ->capture_default_str());
    keep(cmd->add_option("--jitter", flags->jitter, "Delay each action randomly up to this")
             ->check(DurationValidator())
             ->capture_default_str());
    CLI::Option* input =
        keep(cmd->add_option("--input", flags->input, "Workflow input, a JSON object")
                 ->capture_default_str());
    cmd->add_option("--input-file", flags->input_file,
                    "Read the workflow input from this file ('-' for standard input)")
        ->excludes(input);
    keep(cmd->add_option("--execution-timeout", flags->execution_timeout,
                         "Time each run out after this long")
             ->check(DurationValidator()));
    keep(cmd->add_option("--overlap", flags->overlap,
                         "While the last run still runs: SKIP, BUFFER_ONE, ALLOW_ALL, "
                         "CANCEL_OTHER or TERMINATE_OTHER")
             ->check(kOverlapPolicies)
             ->capture_default_str());
    keep(cmd->add_option("--catchup-window", flags->catchup_window,
                         "After downtime, act on due times at most this old")
             ->check(DurationValidator())
             ->capture_default_str());
  };

  CLI::App* create = sc->add_subcommand("create", "Create a schedule");
  add_id(create);
  add_definition(create, true);
  create->add_flag("--paused", flags->paused, "Create it paused");
  create->add_option("--note", flags->note, "A note (e.g. why it is paused)");
  create->callback([flags] { Create(*flags); });

  CLI::App* update = sc->add_subcommand(
      "update", "Change a schedule's cron, action or policies (only the flags given)");
  add_id(update);
  add_definition(update, false);
  update->callback([flags] { Update(*flags); });

  CLI::App* describe =
      sc->add_subcommand("describe", "Show a schedule, its next and recent actions");
  add_id(describe);
  describe->callback([flags] { Describe(*flags); });

  CLI::App* list = sc->add_subcommand("list", "List schedules");
  list->add_option("--page-size", flags->page_size, "Schedules per request")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->callback([flags] { List(*flags); });

  CLI::App* del = sc->add_subcommand("delete", "Delete a schedule (its runs keep running)");
  add_id(del);
  del->callback([flags] {
    WithStub<v1::ScheduleService>(
        flags->api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
          v1::DeleteScheduleRequest req;
          req.set_schedule_id(flags->schedule_id);
          v1::DeleteScheduleResponse resp;
          grpc::Status s = stub.DeleteSchedule(api.Context().get(), req, &resp);
          if (!s.ok()) return Fail(api.Error(s));
          PrintOutcome(flags->api.output, {{"schedule_id", flags->schedule_id}, {"deleted", true}},
                       "deleted schedule " + flags->schedule_id);
        });
  });

  CLI::App* pause = sc->add_subcommand("pause", "Stop scheduled actions (trigger still works)");
  add_id(pause);
  pause->add_option("--note", flags->note, "Why");
  pause->callback([flags] {
    WithStub<v1::ScheduleService>(
        flags->api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
          v1::PauseScheduleRequest req;
          req.set_schedule_id(flags->schedule_id);
          req.set_note(flags->note);
          v1::PauseScheduleResponse resp;
          grpc::Status s = stub.PauseSchedule(api.Context().get(), req, &resp);
          if (!s.ok()) return Fail(api.Error(s));
          PrintOutcome(flags->api.output, {{"schedule_id", flags->schedule_id}, {"paused", true}},
                       "paused schedule " + flags->schedule_id);
        });
  });

  CLI::App* unpause =
      sc->add_subcommand("unpause", "Resume scheduled actions (missed times are not caught up)");
  add_id(unpause);
  unpause->add_option("--note", flags->note, "Why");
  unpause->callback([flags] {
    WithStub<v1::ScheduleService>(
        flags->api, [&](const ApiChannel& api, v1::ScheduleService::Stub& stub) {
          v1::UnpauseScheduleRequest req;
          req.set_schedule_id(flags->schedule_id);
          req.set_note(flags->note);
          v1::UnpauseScheduleResponse resp;
          grpc::Status s = stub.UnpauseSchedule(api.Context().get(), req, &resp);
          if (!s.ok()) return Fail(api.Error(s));
          PrintOutcome(flags->api.output, {{"schedule_id", flags->schedule_id}, {"unpaused", true}},
                       "unpaused schedule " + flags->schedule_id);
        });
  });

  CLI::App* trigger = sc->add_subcommand("trigger", "Act now, paused or not");
  add_id(trigger);
  CLI::Option* overlap =
      trigger
          ->add_option("--overlap", flags->overlap,
                       "Overlap policy for this action (default: the schedule's)")
          ->check(kOverlapPolicies);
  trigger->callback([flags, overlap] { Trigger(*flags, overlap->count() > 0); });
  // Each command lists (and takes) the connection flags itself too: its --help answers.
  for (CLI::App* command : sc->get_subcommands({})) AddApiFlags(command, &flags->api);
}

}  // namespace vecsync::cli
