// The `vecsync` CLI against a real `vecsync server` process: exit codes, progress output,
// one-line errors, bearer tokens. Everything goes through the binary as a user would run it.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "entities/sample_data.h"
#include "src/clients/clickhouse_client.h"
#include "tests/engine_fixture.h"
#include "tests/fake_provider.h"
#include "vecsync/v1/search_service.grpc.pb.h"
#include "vecsync/v1/server_info.grpc.pb.h"

namespace vecsync {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A free loopback port (bound, then released for the server to take).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// GETs `url` with curl; returns the body, a newline and the HTTP status.
std::string HttpGet(const std::string& url) {
  std::string out;
  FILE* p = popen(("curl -s -w '\n%{http_code}' " + url).c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Asks the reflection service at `address` to list the services, or with `symbol` for the file
// that declares it (a generic call, as a tool that knows nothing of vecsync makes it), with
// `token` if not empty. Returns the status code and the raw response.
std::pair<grpc::StatusCode, std::string> ListServicesByReflection(const std::string& address,
                                                                  const std::string& token,
                                                                  const std::string& symbol = "") {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  void* tag;
  bool ok;
  auto step = [&](auto&& op) {
    op();
    queue.Next(&tag, &ok);
    return ok;
  };
  std::string response_bytes;
  if (step([&] { call->StartCall(nullptr); })) {
    // list_services = "" (field 7), or file_containing_symbol = `symbol` (field 4).
    std::string message = symbol.empty()
                              ? std::string("\x3a\x00", 2)
                              : std::string("\x22") + static_cast<char>(symbol.size()) + symbol;
    grpc::Slice slice(message);
    grpc::ByteBuffer request(&slice, 1);
    step([&] { call->Write(request, nullptr); });
    step([&] { call->WritesDone(nullptr); });
    grpc::ByteBuffer response;
    if (step([&] { call->Read(&response, nullptr); })) {
      std::vector<grpc::Slice> slices;
      (void)response.Dump(&slices);
      for (const grpc::Slice& slice : slices) {
        response_bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
  }
  grpc::Status status;
  step([&] { call->Finish(&status, nullptr); });
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return {status.error_code(), response_bytes};
}

// Checks the progress lines a `--wait` printed off a terminal: "done/?" while the walk goes on;
// once a total shows it is the final one, `total`; done never goes back, and ends at the total.
// Returns how many lines showed no total yet.
int ExpectHonestProgress(const std::string& err, int64_t total) {
  int64_t last_done = 0;
  bool total_shown = false;
  int unknown = 0;
  for (absl::string_view line : absl::StrSplit(err, '\n', absl::SkipEmpty())) {
    const size_t slash = line.find('/');
    if (slash == absl::string_view::npos) continue;
    const size_t start = line.rfind(' ', slash) + 1;
    int64_t done = 0;
    if (!absl::SimpleAtoi(line.substr(start, slash - start), &done)) {
      ADD_FAILURE() << line;
      continue;
    }
    EXPECT_GE(done, last_done) << err;
    last_done = done;
    if (line[slash + 1] == '?') {
      EXPECT_FALSE(total_shown) << "a total, then none: " << err;
      ++unknown;
    } else {
      total_shown = true;
      EXPECT_NE(line.find(absl::StrCat("/", total, " ")), absl::string_view::npos) << line;
    }
  }
  EXPECT_TRUE(total_shown) << err;
  EXPECT_EQ(last_done, total) << err;
  return unknown;
}

class CliTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    dir_ = "/tmp/vecsync_cli_test_" + std::to_string(getpid());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
  }
  void TearDown() override {
    StopServer();
    if (own_first_team_ > 0) {  // This test's rows leave the shared ClickHouse table.
      auto clickhouse = clients::ClickHouseClient::Create(std::getenv("VECSYNC_CLICKHOUSE_URL"));
      ASSERT_TRUE(clickhouse.ok());
      (void)(*clickhouse)
          ->Execute("ALTER TABLE pg_embeddings DELETE WHERE team_id BETWEEN " +
                    std::to_string(own_first_team_) + " AND " +
                    std::to_string(own_first_team_ + 9));
    }
    std::system(("rm -rf " + dir_).c_str());
  }

  void StartServer(const std::vector<std::string>& extra = {}) {
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    metrics_address_ = "127.0.0.1:" + std::to_string(FreePort());
    console_address_ = "127.0.0.1:" + std::to_string(FreePort());
    server_ = fork();
    if (server_ == 0) {
      freopen((dir_ + "/server.log").c_str(), "w", stderr);
      std::vector<std::string> args = {
          VECSYNC_BINARY,     "server",        "--pg-url",         testing::TestDatabaseUrl(),
          "--listen",         address_,        "--metrics-listen", metrics_address_,
          "--console-listen", console_address_};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(VECSYNC_BINARY, argv.data());
      _exit(127);
    }
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return Run("health --address " + address_ + " " + health_flags_).exit_code == 0; },
        absl::Seconds(30)))
        << ReadFile(dir_ + "/server.log");
  }
  void StopServer() {
    if (server_ <= 0) return;
    kill(server_, SIGTERM);
    waitpid(server_, nullptr, 0);
    server_ = -1;
  }

  // Runs `vecsync <args>` through the shell, with `env` (VAR=value …) set for it; stdout and
  // stderr are captured (not terminals).
  Result Run(const std::string& args, const std::string& env = "") {
    const std::string out = dir_ + "/out", err = dir_ + "/err";
    const std::string cmd =
        env + " " + std::string(VECSYNC_BINARY) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(out), ReadFile(err)};
  }
  Result Workflow(const std::string& args, const std::string& global = "") {
    return Run("workflow --address " + address_ + " " + global + " " + args);
  }

  // Source tables with `actions` actions of two teams numbered from `base` plus an offset of this
  // process's own: ClickHouse's table is shared, and team ids unique to the run keep its rows
  // apart (TearDown removes them). Returns the first team's id.
  int64_t SeedOwnActions(int64_t base, int actions) {
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.ok());
    EXPECT_TRUE(entities::DropSourceTables(**conn).ok());
    entities::SeedOptions seed;
    seed.teams = 2;
    seed.actions = actions;
    seed.cohorts = 0;
    seed.event_definitions = 0;
    seed.first_team_id = base + (getpid() % 100000) * 10;
    EXPECT_TRUE(entities::SeedSourceTables(**conn, seed).ok());
    own_first_team_ = seed.first_team_id;
    return seed.first_team_id;
  }

  std::string dir_;
  std::string address_;
  std::string metrics_address_;
  std::string console_address_;
  pid_t server_ = -1;
  int64_t own_first_team_ = 0;  // Set by SeedOwnActions.
  std::string health_flags_;    // E.g. --tls-ca for a TLS server.
};

TEST_F(CliTest, StartWaitShowsProgressLinesAndExitsZero) {
  StartServer();
  Result r = Workflow(R"(start --type demo-greeting --input '{"name":"cli"}' --wait)");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("status: COMPLETED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Hello, cli!"), std::string::npos) << r.out;
  // Not a terminal: plain progress lines on stderr, no carriage returns.
  EXPECT_NE(r.err.find("RUNNING  "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/2 "), std::string::npos) << "done/total shown: " << r.err;
  EXPECT_NE(r.err.find("step="), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('['), std::string::npos) << "no bar off a terminal: " << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);

  r = Workflow(R"(start --type demo-greeting --wait)", "--output json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json doc = Json::parse(r.out);
  EXPECT_EQ(doc["status"], "COMPLETED");
  EXPECT_EQ(doc["result"]["greeting"], "Hello, world!");

  // describe, list, history see the runs.
  const std::string id = doc["workflow_id"];
  r = Workflow("describe -w " + id, "--output json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["run_id"], doc["run_id"]);
  r = Workflow("list --type demo-greeting --status COMPLETED");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  r = Workflow("history -w " + id);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("WorkflowExecutionCompleted"), std::string::npos) << r.out;
}

TEST_F(CliTest, OnATerminalWaitDrawsALiveProgressBar) {
  StartServer();
  // `script` runs the command on a pseudo-terminal, as a user's shell would.
  const std::string cmd = std::string(VECSYNC_BINARY) + " workflow --address " + address_ +
                          " start --type demo-greeting --wait";
  const std::string typescript = dir_ + "/typescript";
  const int status =
      std::system(("script -qec '" + cmd + "' " + typescript + " >/dev/null 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string screen = ReadFile(typescript);
  // Redrawn in place (carriage return, erase line), with a bar from the run's done/total.
  EXPECT_NE(screen.find("\r"), std::string::npos) << screen;
  EXPECT_NE(screen.find("\033[K"), std::string::npos) << screen;
  EXPECT_NE(screen.find("[##############################]  2/2 100%"), std::string::npos) << screen;
  EXPECT_NE(screen.find("status: COMPLETED"), std::string::npos) << screen;
}

TEST_F(CliTest, ExitCodesSayHowTheRunClosed) {
  StartServer();
  // Without source tables a sync keeps retrying its first activity: the run times out (6).
  Result r = Workflow(
      R"(start --type sync-entity-vectors --input '{"domain":"action"}' --execution-timeout 2s --wait)");
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_NE(r.out.find("TIMED_OUT"), std::string::npos);
  EXPECT_NE(r.err.find("last failure"), std::string::npos) << "a stuck run says why: " << r.err;
  // Off a terminal, a line per visible change: never the same line twice in a row.
  const std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_NE(lines[i], lines[i - 1]) << r.err;

  // Terminated while watched: the watcher exits 5.
  r = Workflow(
      R"(start --type sync-entity-vectors --input '{"domain":"action"}' --workflow-id stuck)");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string watch_out = dir_ + "/watch.out";
  const std::string watch = std::string(VECSYNC_BINARY) + " workflow --address " + address_ +
                            " watch -w stuck >" + watch_out + " 2>&1";
  pid_t watcher = fork();
  if (watcher == 0) {
    execl("/bin/sh", "sh", "-c", watch.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return !ReadFile(watch_out).empty(); }, absl::Seconds(10)));
  r = Workflow("terminate -w stuck --reason 'test over'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int status = 0;
  waitpid(watcher, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 5) << ReadFile(watch_out);
  EXPECT_NE(ReadFile(watch_out).find("TERMINATED"), std::string::npos);

  // Canceled (4).
  r = Workflow(
      R"(start --type sync-entity-vectors --input '{"domain":"action"}' --workflow-id to-cancel)");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Workflow("cancel -w to-cancel").exit_code, 0);
  EXPECT_EQ(Workflow("watch -w to-cancel").exit_code, 4);
}

// On a terminal the live line is cut to the terminal's width: a wrapped line cannot be redrawn in
// place, and would leave stale lines behind.
TEST_F(CliTest, TheLiveLineFitsTheTerminal) {
  StartServer();
  // A stuck sync shows its pending activity and last failure: a long line.
  const std::string cmd = "stty cols 60; " + std::string(VECSYNC_BINARY) + " workflow --address " +
                          address_ +
                          R"( start --type sync-entity-vectors --input "{\"domain\":\"action\"}")" +
                          " --execution-timeout 3s --wait";
  const std::string typescript = dir_ + "/typescript";
  const int status =
      std::system(("script -qec '" + cmd + "' " + typescript + " >/dev/null 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  const std::string screen = ReadFile(typescript);
  int live_lines = 0;
  for (absl::string_view row : absl::StrSplit(screen, absl::ByAnyChar("\r\n"))) {
    if (!absl::StartsWith(row, "RUNNING")) continue;
    ++live_lines;
    std::string text(row);
    absl::StrReplaceAll({{"\033[K", ""}}, &text);
    EXPECT_LT(text.size(), 60u) << text;
  }
  EXPECT_GT(live_lines, 0) << screen;
}

// Ctrl-C stops following, says the run goes on and how to follow or stop it; the run does go on.
TEST_F(CliTest, InterruptingAWaitSaysTheRunGoesOn) {
  StartServer();
  const std::string err = dir_ + "/wait.err";
  const std::string cmd = std::string(VECSYNC_BINARY) + " workflow --address " + address_ +
                          R"( start --type sync-entity-vectors --input '{"domain":"action"}')" +
                          " --workflow-id interrupted --wait 2>" + err;
  pid_t waiter = fork();
  if (waiter == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return ReadFile(err).find("RUNNING") != std::string::npos; },
                                 absl::Seconds(20)));
  kill(waiter, SIGINT);
  int status = 0;
  waitpid(waiter, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_NE(ReadFile(err).find("stopped following workflow interrupted; the run goes on in the "
                               "server (follow it again: vecsync workflow watch -w interrupted; "
                               "stop it: vecsync workflow cancel -w interrupted)"),
            std::string::npos)
      << ReadFile(err);
  const Result d = Workflow("describe -w interrupted", "-o json");
  EXPECT_EQ(Json::parse(d.out)["status"], "RUNNING") << d.out;
  EXPECT_EQ(Workflow("terminate -w interrupted").exit_code, 0);
}

TEST_F(CliTest, ErrorsAreOneReadableLine) {
  StartServer();
  Result r = Workflow(R"(start --type demo-greeting --input '{"planet":"mars"}')");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("unknown input field 'planet'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;

  r = Workflow("describe -w no-such-workflow");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;

  r = Workflow(R"(start --type demo-greeting --input 'not json')");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("input_json"), std::string::npos) << r.err;

  r = Run("workflow --address 127.0.0.1:1 list");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot reach the vecsync server at 127.0.0.1:1"), std::string::npos)
      << r.err;

  // PostgreSQL's errors span lines (a DETAIL, a hint): joined into one.
  r = Run("entities failed --pg-url postgresql://nobody@127.0.0.1:1/none --domain action");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1"), std::string::npos) << r.err;
}

// Bad usage exits 2 with one line naming the command, the problem and the help to read.
TEST_F(CliTest, UsageErrorsExitTwoWithOneLineAndAHint) {
  StartServer();
  struct Case {
    std::string args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"workflow bogus", "vecsync workflow: unknown command 'bogus' (one of: start,"},
      {"workflow", "vecsync workflow: a command is required"},
      {"frobnicate", "vecsync: unknown command 'frobnicate'"},
      {"workflow list --bogus", "vecsync workflow list: unexpected argument --bogus"},
      {"workflow list --status SLEEPING", "--status: SLEEPING not in"},
      {"workflow list --since fortnight", "'fortnight' is not a duration"},
      {"workflow start --type demo-greeting --reuse-policy SOMETIMES", "--reuse-policy"},
      {"workflow start --type demo-greeting --input '{}' --input-file x.json", "excludes"},
      {"workflow describe", "--workflow-id is required"},
      {"schedule create -s s --cron @daily --type demo-greeting --overlap SOMETIMES", "--overlap"},
      {"entities failed --domain planet", "unknown domain 'planet' (known: action"},
      {"search --domain action --team 1", "text is required"},
      {"server --lease soon", "'soon' is not a duration"},
      {"server --price gpt-4.1-mini=cheap", "expected MODEL=INPUT[/OUTPUT]"},
      {"plan", "--domain is required"},
  };
  for (const Case& c : cases) {
    const Result r = Run(c.args + " --address " + address_);
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find("--help`)"), std::string::npos) << c.args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args << ": " << r.out;
  }
  // --help answers, and exits 0.
  const Result help = Run("workflow list --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--address"), std::string::npos) << "group flags listed: " << help.out;
}

// Flags may follow the subcommand; --output json prints one valid JSON document for every
// command, empty lists included.
TEST_F(CliTest, FlagsAnywhereAndJsonAlwaysValid) {
  StartServer();
  // `stdin_from` (e.g. "echo … |") feeds the command's standard input.
  auto json = [&](const std::string& args, const std::string& stdin_from = "") {
    const Result r = Run(args, stdin_from);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
    const Json doc = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << args << " printed no JSON document: " << r.out;
    return doc;
  };
  const std::string at = " --address " + address_ + " -o json";
  EXPECT_EQ(json("workflow list" + at), Json::array()) << "an empty list is []";
  EXPECT_EQ(json("schedule list" + at), Json::array());
  EXPECT_EQ(json("entities failed --domain action -o json --pg-url " + testing::TestDatabaseUrl()),
            Json::array());
  const Json health = json("health" + at);
  EXPECT_EQ(health["status"], "SERVING") << health;

  // A workflow's input from a file (over the ~128 KB a command line holds) and from stdin.
  const std::string big_name(200 * 1024, 'x');
  const std::string input_file = dir_ + "/input.json";
  std::ofstream(input_file) << Json{{"name", big_name}}.dump();
  Json run =
      json("workflow start --type demo-greeting --input-file " + input_file + " --wait" + at);
  EXPECT_EQ(run["status"], "COMPLETED") << run.dump().substr(0, 500);
  EXPECT_EQ(run["result"]["greeting"], "Hello, " + big_name + "!");
  run = json("workflow start --type demo-greeting --input-file - --wait" + at,
             R"(echo '{"name":"stdin"}' |)");
  EXPECT_EQ(run["result"]["greeting"], "Hello, stdin!") << run;
  Result r = Run("workflow start --type demo-greeting --input-file " + dir_ + "/absent.json" + at);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--input-file: cannot read"), std::string::npos) << r.err;

  const std::string id = run["workflow_id"];
  const Json listed = json("workflow list --type demo-greeting" + at);
  ASSERT_EQ(listed.size(), 2u) << listed.dump().substr(0, 500);
  EXPECT_EQ(listed[0]["workflow_id"], id) << "newest first";
  const Json history = json("workflow history -w " + id + at);
  ASSERT_TRUE(history.is_array());
  EXPECT_EQ(history.back()["event_type"], "WorkflowExecutionCompleted") << history;
  // (Without source tables a sync keeps retrying: it is there to cancel.)
  const Json stuck =
      json(R"(workflow start --type sync-entity-vectors --input '{"domain":"action"}')" + at);
  EXPECT_EQ(stuck["started"], true) << stuck;
  EXPECT_EQ(json("workflow cancel -w " + stuck["workflow_id"].get<std::string>() + at),
            (Json{{"workflow_id", stuck["workflow_id"]}, {"cancel_requested", true}}));

  // Text history shows long attributes cut, saying how to see them whole.
  const std::string big_id = listed[1]["workflow_id"];
  r = Run("workflow history -w " + big_id + " --address " + address_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    EXPECT_LT(line.size(), 400u) << line.substr(0, 400);
  }
  EXPECT_NE(r.out.find("more bytes; --output json shows all)"), std::string::npos);

  // Schedules, changed with flags after the subcommand.
  EXPECT_EQ(json("schedule create -s s1 --cron @daily --type demo-greeting --input-file " +
                 input_file + at)["created"],
            true);
  const Json schedule = json("schedule describe -s s1" + at);
  EXPECT_EQ(schedule["input"]["name"], big_name);
  EXPECT_EQ(json("schedule pause -s s1" + at)["paused"], true);
  EXPECT_EQ(json("schedule list" + at).size(), 1u);
  EXPECT_EQ(json("schedule delete -s s1" + at)["deleted"], true);
}

TEST_F(CliTest, ReflectionServedWithoutAuth) {
  StartServer();
  const auto [code, response] = ListServicesByReflection(address_, "");
  EXPECT_EQ(code, grpc::StatusCode::OK);
  for (const char* service :
       {"vecsync.v1.WorkflowService", "vecsync.v1.EntityService", "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection"}) {
    EXPECT_NE(response.find(service), std::string::npos) << service << ": " << response;
  }
  // The file that declares a service, with its imports: what grpcurl reads to call it.
  const auto [file_code, file] = ListServicesByReflection(address_, "", "vecsync.v1.EntityService");
  EXPECT_EQ(file_code, grpc::StatusCode::OK);
  EXPECT_NE(file.find("vecsync/v1/entity_service.proto"), std::string::npos) << file;
  EXPECT_NE(file.find("google/protobuf/timestamp.proto"), std::string::npos) << "its import";
  EXPECT_NE(file.find("GetSyncStatus"), std::string::npos);
}

TEST_F(CliTest, BearerTokenFromAFile) {
  const std::string server_tokens = dir_ + "/server-tokens";
  std::ofstream(server_tokens) << "# current\nalpha-123\nbeta-456\n";
  StartServer({"--auth-token-file", server_tokens});
  Result r = Workflow("list");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;

  // What the server is (version, host, pid) is for token holders only.
  {
    auto stub = v1::ServerInfoService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    v1::ServerInfo info;
    grpc::ClientContext anonymous;
    EXPECT_EQ(stub->GetServerInfo(&anonymous, {}, &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext holder;
    holder.AddMetadata("authorization", "Bearer alpha-123");
    grpc::Status s = stub->GetServerInfo(&holder, {}, &info);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_FALSE(info.identity().empty());
  }
  // So is reflection, which describes every service.
  EXPECT_EQ(ListServicesByReflection(address_, "").first, grpc::StatusCode::UNAUTHENTICATED);
  {
    const auto [code, response] = ListServicesByReflection(address_, "alpha-123");
    EXPECT_EQ(code, grpc::StatusCode::OK);
    EXPECT_NE(response.find("vecsync.v1.WorkflowService"), std::string::npos) << response;
  }
  const std::string client_token = dir_ + "/client-token";
  std::ofstream(client_token) << "beta-456\n";
  r = Workflow("list", "--token-file " + client_token);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  std::ofstream(client_token) << "gamma-789\n";
  r = Workflow("list", "--token-file " + client_token);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.find("gamma-789"), std::string::npos) << "the token leaked into the error";

  // Health needs no token (probes); the server log never shows the tokens.
  EXPECT_EQ(Run("health --address " + address_).exit_code, 0);
  StopServer();
  const std::string log = ReadFile(dir_ + "/server.log");
  EXPECT_EQ(log.find("alpha-123"), std::string::npos);
  EXPECT_EQ(log.find("beta-456"), std::string::npos);
}

TEST_F(CliTest, AnAuthTokenListThatNamesNoTokenIsRefusedNotTakenAsAuthOff) {
  const Result refused =
      Run("server --pg-url " + testing::TestDatabaseUrl() +
              " --listen 127.0.0.1:0 --metrics-listen off --console-listen off --no-change-feed "
              "--no-workers "
              "--no-scheduler",
          // (A server that took it as auth off would serve until the timeout.)
          "VECSYNC_AUTH_TOKENS=' , ' timeout 20");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("VECSYNC_AUTH_TOKENS is set but names no token"), std::string::npos)
      << refused.err;
}

// Beyond loopback, an API without tokens is refused unless --insecure says the network is
// trusted; tokens without TLS start with a warning.
TEST_F(CliTest, AnApiBeyondLoopbackNeedsTokensOrInsecure) {
  const std::string port = std::to_string(FreePort());
  const std::string server = "server --pg-url " + testing::TestDatabaseUrl() +
                             " --listen 0.0.0.0:" + port +
                             " --metrics-listen off --console-listen off --no-change-feed "
                             "--no-workers --no-scheduler";
  // (A server that started would serve until the timeout.)
  Result r = Run(server, "VECSYNC_AUTH_TOKENS= timeout 20");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("refusing to serve the API on 0.0.0.0:" + port + " without auth"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // So is the web console.
  r = Run("server --pg-url " + testing::TestDatabaseUrl() +
              " --listen 127.0.0.1:0 --console-listen 0.0.0.0:" + std::to_string(FreePort()) +
              " --metrics-listen off --no-change-feed --no-workers --no-scheduler",
          "VECSYNC_AUTH_TOKENS= timeout 20");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("refusing to serve the web console on 0.0.0.0:"), std::string::npos)
      << r.err;

  const std::string tokens = dir_ + "/tokens";
  std::ofstream(tokens) << "alpha-123\n";
  address_ = "127.0.0.1:" + std::to_string(FreePort());
  for (const std::string& extra : {std::string("--insecure"), "--auth-token-file " + tokens}) {
    server_ = fork();
    if (server_ == 0) {
      freopen((dir_ + "/server.log").c_str(), "w", stderr);
      const std::string cmd = std::string(VECSYNC_BINARY) + " " + server + " " + extra;
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_TRUE(
        testing::WaitUntil([&] { return Run("health --address 127.0.0.1:" + port).exit_code == 0; },
                           absl::Seconds(30)))
        << ReadFile(dir_ + "/server.log");
    StopServer();
    const std::string log = ReadFile(dir_ + "/server.log");
    EXPECT_NE(log.find(extra == "--insecure" ? "INSECURE: the API serves without auth"
                                             : "bearer tokens travel in cleartext"),
              std::string::npos)
        << log;
  }
}

TEST_F(CliTest, ConfigFileSettingsRankBelowEnvironmentAndFlags) {
  const std::string from_file = "127.0.0.1:" + std::to_string(FreePort());
  const std::string from_env = "127.0.0.1:" + std::to_string(FreePort());
  const std::string config = dir_ + "/vecsync.conf";
  std::ofstream(config) << "# vecsync server settings\n"
                        << "pg-url = \"" << testing::TestDatabaseUrl() << "\"\n"
                        << "listen = " << from_file << "\n"
                        << "metrics-listen = 127.0.0.1:0\n"
                        << "console-listen = off\n"
                        << "no-scheduler = true\n"
                        << "log-format = json\n";
  auto launch = [&](const std::string& listen_flag) {
    server_ = fork();
    if (server_ == 0) {
      freopen((dir_ + "/server.log").c_str(), "w", stderr);
      setenv("VECSYNC_LISTEN", from_env.c_str(), 1);
      unsetenv("VECSYNC_PG_URL");  // The file's value is the only one.
      if (listen_flag.empty()) {
        execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--config", config.c_str(),
              static_cast<char*>(nullptr));
      } else {
        execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--config", config.c_str(), "--listen",
              listen_flag.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
  };
  // The environment's address wins over the file's.
  launch("");
  ASSERT_TRUE(testing::WaitUntil([&] { return Run("health --address " + from_env).exit_code == 0; },
                                 absl::Seconds(30)))
      << ReadFile(dir_ + "/server.log");
  EXPECT_NE(Run("health --address " + from_file).exit_code, 0);
  StopServer();
  const std::string log = ReadFile(dir_ + "/server.log");
  EXPECT_NE(log.find("\"scheduler\":\"off\""), std::string::npos) << "the file's flag: " << log;
  EXPECT_NE(log.find("\"msg\":\"vecsync server ready\""), std::string::npos)
      << "JSON logs from the file: " << log;

  // A flag on the command line wins over both.
  const std::string from_flag = "127.0.0.1:" + std::to_string(FreePort());
  launch(from_flag);
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Run("health --address " + from_flag).exit_code == 0; }, absl::Seconds(30)))
      << ReadFile(dir_ + "/server.log");
  EXPECT_NE(Run("health --address " + from_env).exit_code, 0);
  StopServer();

  // An unknown setting is a clear error.
  std::ofstream(config, std::ios::app) << "listen-harder = yes\n";
  Result r = Run("server --config " + config);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("vecsync.conf:8: unknown setting 'listen-harder'"), std::string::npos)
      << r.err;
}

TEST_F(CliTest, MetricsHealthAndReadiness) {
  StartServer();
  const std::string base = "http://" + metrics_address_;
  EXPECT_EQ(HttpGet(base + "/healthz"), "ok\n\n200");
  EXPECT_EQ(HttpGet(base + "/readyz"), "ready\n\n200");
  EXPECT_NE(HttpGet(base + "/nope").find("404"), std::string::npos);
  ASSERT_EQ(Workflow(R"(start --type demo-greeting --wait)").exit_code, 0);
  ASSERT_EQ(Workflow(R"(start --type sync-entity-vectors --input '{"domain":"action"}')").exit_code,
            0);
  const std::string metrics = HttpGet(base + "/metrics");
  for (const char* line :
       {"# TYPE vecsync_workflows_started_total counter",
        "vecsync_workflows_started_total{workflow_type=\"demo-greeting\"} 1",
        "vecsync_workflows_closed_total{workflow_type=\"demo-greeting\",status=\"COMPLETED\"} 1",
        "vecsync_activity_attempts_total{activity_type=\"demo-greet\",outcome=\"completed\"} 1",
        "# TYPE vecsync_activity_attempt_seconds histogram",
        "vecsync_activity_attempt_seconds_bucket{activity_type=\"demo-greet\",le=\"+Inf\"} 1",
        "vecsync_workflows_running{workflow_type=\"sync-entity-vectors\"} 1",
        "vecsync_activity_queue_depth{state=\"ready\"}", "vecsync_schedules{state=\"active\"} 0",
        "# TYPE vecsync_sync_change_queue_depth gauge",
        "# TYPE vecsync_sync_change_queue_oldest_seconds gauge",
        "# TYPE vecsync_sync_replication_slot_lag_bytes gauge"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << "missing: " << line << "\n" << metrics;
  }
}

TEST_F(CliTest, APIOnlyAndWorkerOnlyProcessesShareTheWork) {
  // This process serves the API only; a second one, with no API, runs workers and scheduler.
  StartServer({"--no-workers", "--no-scheduler"});
  const std::string worker_metrics = "127.0.0.1:" + std::to_string(FreePort());
  pid_t worker = fork();
  if (worker == 0) {
    freopen((dir_ + "/worker.log").c_str(), "w", stderr);
    execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--pg-url", testing::TestDatabaseUrl().c_str(),
          "--no-api", "--metrics-listen", worker_metrics.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return HttpGet("http://" + worker_metrics + "/healthz") == "ok\n\n200"; },
      absl::Seconds(30)))
      << ReadFile(dir_ + "/worker.log");
  Result r = Workflow(R"(start --type demo-greeting --wait --wait-timeout 60s)", "--output json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  kill(worker, SIGTERM);
  waitpid(worker, nullptr, 0);
  EXPECT_NE(ReadFile(dir_ + "/worker.log").find("api=off"), std::string::npos)
      << ReadFile(dir_ + "/worker.log");
  EXPECT_EQ(Json::parse(r.out)["status"], "COMPLETED");
  // Without the worker process nothing runs the workflow: the API-only process has none.
  r = Workflow(R"(start --type demo-greeting --wait --wait-timeout 2s)");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("still running"), std::string::npos) << r.err;
}

TEST_F(CliTest, TlsBetweenTheCliAndTheServer) {
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir_ +
                          "/key.pem -out " + dir_ + "/cert.pem -days 1 -subj /CN=127.0.0.1 " +
                          "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  health_flags_ = "--tls-ca " + dir_ + "/cert.pem";
  StartServer({"--tls-cert", dir_ + "/cert.pem", "--tls-key", dir_ + "/key.pem"});
  Result r = Workflow("list", "--tls-ca " + dir_ + "/cert.pem");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Workflow("list");  // Plaintext to a TLS port.
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(CliTest, SchedulesFireThroughTheServersScheduler) {
  StartServer();
  auto schedule = [&](const std::string& args, const std::string& global = "") {
    return Run("schedule --address " + address_ + " " + global + " " + args);
  };
  Result r = schedule(
      R"(create -s every-second --cron '@every 1s' --type demo-greeting --input '{"name":"cron"}')");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        Result d = schedule("describe -s every-second", "--output json");
        return d.exit_code == 0 && Json::parse(d.out)["action_count"].get<int>() >= 2;
      },
      absl::Seconds(20)));
  r = schedule("pause -s every-second --note 'enough'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = schedule("list");
  EXPECT_NE(r.out.find("every-second  '@every 1s'  demo-greeting  paused"), std::string::npos)
      << r.out;
  r = schedule("describe -s every-second");
  EXPECT_NE(r.out.find("notes: enough"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recent actions:"), std::string::npos) << r.out;
  // The runs it started completed, under ids naming the schedule.
  r = Workflow("list --type demo-greeting --status COMPLETED", "--output json");
  EXPECT_NE(r.out.find("\"workflow_id\": \"every-second-"), std::string::npos) << r.out;

  r = schedule("trigger -s every-second --overlap ALLOW_ALL");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("started workflow every-second-"), std::string::npos) << r.out;
  r = schedule("update -s every-second --cron '0 9 * * MON-FRI' --time-zone Europe/Berlin");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = schedule("describe -s every-second", "--output json");
  Json d = Json::parse(r.out);
  EXPECT_EQ(d["cron"], "0 9 * * MON-FRI");
  EXPECT_EQ(d["workflow_type"], "demo-greeting") << "update keeps what was not given";
  EXPECT_EQ(d["paused"], true);

  r = schedule("create -s broken --cron '61 * * * *' --type demo-greeting");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cron minute field '61'"), std::string::npos) << r.err;
  r = schedule("create -s broken --cron '@daily' --type demo-greeting --overlap SOMETIMES");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--overlap"), std::string::npos) << r.err;
  EXPECT_EQ(schedule("delete -s every-second").exit_code, 0);
  r = schedule("describe -s every-second");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos);
}

// `vecsync search` asks the server, so it embeds as the server does: here 256-dimension vectors,
// where the CLI's own default would be 512.
TEST_F(CliTest, SearchAsksTheServerAndAnswersAsTheApiDoes) {
  SeedOwnActions(4000000, 40);
  StartServer({"--no-change-feed", "--embedding-dimensions", "256"});
  const Result sync =
      Workflow(R"(start --type sync-entity-vectors --input '{"domain":"action"}' --wait)");
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  ExpectHonestProgress(sync.err, 40);
  const std::string team = std::to_string(QueryInt("SELECT min(team_id) FROM posthog_action"));
  const std::string text = "clicked upgrade on the pricing page";
  Result r = Run("search --domain action --team " + team + " --limit 5 --address " + address_ +
                 " -o json '" + text + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json hits = Json::parse(r.out);
  ASSERT_EQ(hits.size(), 5u) << r.out;

  auto stub =
      v1::SearchService::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  v1::SearchSimilarRequest req;
  req.set_domain("action");
  req.set_team_id(std::stoll(team));
  req.set_query(text);
  req.set_limit(5);
  v1::SearchSimilarResponse resp;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->SearchSimilar(&context, req, &resp).ok());
  ASSERT_EQ(resp.hits_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(hits[i]["id"], resp.hits(i).entity_id()) << i;
    EXPECT_DOUBLE_EQ(hits[i]["distance"].get<double>(), resp.hits(i).distance()) << i;
  }
  // Where the sync stands, through the API: everything synced, by the run above.
  r = Run("status --address " + address_ + " -o json --team " + team);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json status = Json::parse(r.out)["domains"];
  ASSERT_EQ(status.size(), 3u) << "every domain: " << r.out;
  const Json& action = status[0];
  EXPECT_EQ(action["domain"], "action");
  EXPECT_EQ(action["embedding_version"], 1);
  EXPECT_EQ(action["active"], true);
  EXPECT_EQ(action["embedder"], "hashing-v1/256");
  EXPECT_EQ(action["totals"]["synced"], action["totals"]["in_scope"]);
  EXPECT_EQ(action["totals"]["stale"], 0);
  ASSERT_EQ(action["teams"].size(), 1u) << "--team " << team;
  EXPECT_EQ(action["teams"][0]["team_id"], std::stoll(team));
  EXPECT_EQ(action["last_run"]["status"], "COMPLETED");
  EXPECT_GT(action["last_run"]["result"]["embedded"].get<int>(), 0) << action;
  EXPECT_TRUE(action["running"].is_null());
  r = Run("status --domain action --address " + address_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("embedding version 1 (active)  embedder hashing-v1/256"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("last run: COMPLETED"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cohort"), std::string::npos) << "--domain action only: " << r.out;
  // The same figures as gauges, per domain.
  r = Run("status --domain action -o json --address " + address_);
  const Json totals = Json::parse(r.out)["domains"][0]["totals"];
  const std::string metrics = HttpGet("http://" + metrics_address_ + "/metrics");
  for (const char* state : {"in_scope", "synced", "stale", "to_remove"}) {
    EXPECT_NE(metrics.find(absl::StrCat("vecsync_sync_entities{domain=\"action\",state=\"", state,
                                        "\"} ", totals[state].get<int64_t>(), "\n")),
              std::string::npos)
        << state << ": " << metrics;
  }
  EXPECT_NE(metrics.find("vecsync_sync_active_embedding_version{domain=\"action\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("vecsync_sync_last_run_completed{domain=\"action\"} 1\n"),
            std::string::npos);

  // Text output: one line per hit.
  r = Run("search --domain action --team " + team + " --limit 5 '" + text + "' --address " +
          address_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.out;
  EXPECT_EQ(r.out.rfind(resp.hits(0).entity_id() + "  ", 0), 0u) << r.out;

  // Errors exit non-zero, with the server's reason.
  r = Run("search --domain planet --team " + team + " 'x' --address " + address_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown domain"), std::string::npos) << r.err;
  r = Run("search --domain action --team " + team + " '' --address " + address_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  r = Run("search --domain action --team " + team + " 'x' --address 127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot reach the vecsync server"), std::string::npos) << r.err;
}

// A sync against a slow provider: while the walk goes on the total shows as unknown rather than
// as what has been selected so far, and the count moves with the summarizing, not only at the end.
TEST_F(CliTest, ProgressOfASyncIsHonest) {
  SeedOwnActions(5000000, 600);
  testing::FakeProvider provider(64);
  provider.Control({{"latency_ms", 40}});
  setenv("OPENAI_API_KEY", "test-key", 1);
  StartServer({"--no-change-feed", "--summarizer", "openai", "--embedder", "openai",
               "--embedding-dimensions", "64", "--openai-base-url", provider.base_url(), "--price",
               "gpt-4.1-mini=1.00/2.00"});
  const Result sync = Workflow(
      R"(start --type sync-entity-vectors --input '{"domain":"action","max_parallel_requests":2}' --wait)");
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  const int64_t rows = QueryInt("SELECT count(*) FROM posthog_action");
  EXPECT_GT(ExpectHonestProgress(sync.err, rows), 1) << "the walk took several pages: " << sync.err;
  // The run recorded the tokens the provider reported using, every one.
  const Json stats = provider.Stats();
  const Json result = Json::parse(sync.out.substr(
      sync.out.find("result: ") + 8,
      sync.out.find('\n', sync.out.find("result: ")) - sync.out.find("result: ") - 8));
  EXPECT_EQ(result["prompt_tokens"], stats["chat_prompt_tokens"]) << result;
  EXPECT_EQ(result["completion_tokens"], stats["chat_completion_tokens"]) << result;
  EXPECT_EQ(result["embedding_tokens"], stats["embedding_tokens"]) << result;
  EXPECT_GT(result["prompt_tokens"].get<int64_t>(), result["summarized"].get<int64_t>());

  // Status prices the run's tokens: the chat model at the --price given, the embedding model at
  // the built-in list price.
  Result r = Run("status --domain action -o json --address " + address_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json last_run = Json::parse(r.out)["domains"][0]["last_run"];
  const double cost = (result["prompt_tokens"].get<double>() * 1.00 +
                       result["completion_tokens"].get<double>() * 2.00 +
                       result["embedding_tokens"].get<double>() * 0.02) /
                      1e6;
  EXPECT_NEAR(last_run["cost_usd"].get<double>(), cost, 1e-12) << last_run;

  // A plan before a run: what it will summarize, embed and tombstone, and cost; the run then
  // does that.
  Exec(
      "UPDATE posthog_action SET name = name || ' (renamed)', updated_at = now() WHERE id IN "
      "(SELECT id FROM posthog_action WHERE NOT deleted ORDER BY id LIMIT 7)");
  Exec(
      "UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id IN "
      "(SELECT id FROM posthog_action WHERE NOT deleted ORDER BY id DESC LIMIT 3)");
  const int chats = provider.Stats()["chat"].get<int>();
  r = Run("plan --domain action -o json --address " + address_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json plan = Json::parse(r.out);
  EXPECT_EQ(plan["summarize"], 7) << plan;
  EXPECT_EQ(plan["embed"], 7) << plan;
  EXPECT_EQ(plan["tombstone"], 3) << plan;
  EXPECT_EQ(plan["chat_model"], "gpt-4.1-mini");
  EXPECT_GT(plan["estimated_cost_usd"].get<double>(), 0) << plan;
  EXPECT_EQ(provider.Stats()["chat"].get<int>(), chats) << "a plan pays for nothing";
  const Result reconcile = Workflow(
      R"(start --type sync-entity-vectors --input '{"domain":"action","mode":"reconcile"}' --wait -o json)");
  ASSERT_EQ(reconcile.exit_code, 0) << reconcile.err;
  const Json done = Json::parse(reconcile.out)["result"];
  for (const auto& [planned, did] : {std::pair<const char*, const char*>{"selected", "selected"},
                                     {"summarize", "summarized"},
                                     {"embed", "embedded"},
                                     {"tombstone", "tombstoned"},
                                     {"refresh", "refreshed"},
                                     {"unchanged", "skipped_unchanged"}}) {
    EXPECT_EQ(plan[planned], done[did]) << planned << ": " << plan << "\n" << done;
  }
  r = Run("plan --domain action --address " + address_);
  EXPECT_NE(r.out.find("select 0: summarize 0"), std::string::npos) << r.out;
}

TEST_F(CliTest, EntitiesWatchAndVersionsShowWhatTheSyncMade) {
  SeedOwnActions(3000000, 20);
  StartServer({"--no-change-feed"});
  ASSERT_EQ(Workflow(R"(start --type sync-entity-vectors --input '{"domain":"action"}' --wait)")
                .exit_code,
            0);
  const std::string watch =
      "entities watch --address " + address_ + " --domain action --output json --max-events ";
  Result r = Run(watch + "3 --resume-token e0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << r.out;
  std::set<std::string> ids;
  for (const std::string& line : lines) {
    const Json event = Json::parse(line);
    EXPECT_EQ(event["kind"], "embedded") << line;
    EXPECT_EQ(event["domain"], "action");
    ids.insert(event["entity_id"].get<std::string>());
  }
  const std::string token = Json::parse(lines.back())["resume_token"];
  r = Run(watch + "1 --resume-token " + token);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json next = Json::parse(r.out);
  EXPECT_FALSE(ids.contains(next["entity_id"].get<std::string>())) << "repeated after resuming";
  EXPECT_GT(std::stoll(next["resume_token"].get<std::string>().substr(1)),
            std::stoll(token.substr(1)));

  r = Run(watch + "1 --resume-token bogus");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("resume_token"), std::string::npos) << r.err;
  r = Run("entities watch --address " + address_ + " --domain planet --max-events 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("action"), std::string::npos) << "lists the known domains: " << r.err;
  // The domain's embedding versions: the one the sync built, complete and active.
  const std::string versions =
      "entities versions --pg-url " + testing::TestDatabaseUrl() + " --domain action ";
  r = Run(versions + "--output json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json listed = Json::parse(r.out);
  ASSERT_EQ(listed.size(), 1u) << r.out;
  EXPECT_EQ(listed[0]["embedding_version"], 1);
  EXPECT_EQ(listed[0]["state"], "complete");
  EXPECT_EQ(listed[0]["active"], true);
  EXPECT_EQ(listed[0]["embedder"], "hashing-v1/512");
  r = Run(versions + "--activate 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no embedding version 5"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vecsync
