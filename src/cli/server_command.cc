// `vecsync server`: the gRPC endpoint (health, reflection, server info) and the engine's worker
// in one process; `vecsync health`: asks a server whether it is serving.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <iostream>

#include "absl/synchronization/notification.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "src/cli/commands.h"
#include "src/cli/provider_flags.h"
#include "src/clients/clickhouse_client.h"
#include "src/common/log.h"
#include "src/common/pg.h"
#include "src/common/pg_pool.h"
#include "src/engine/migrations.h"
#include "src/engine/worker.h"
#include "vecsync/v1/server_info.grpc.pb.h"
#include "workflows/register_all.h"

namespace vecsync::cli {
namespace {

struct ServerFlags {
  DatabaseFlags db;
  std::string clickhouse_url;
  ProviderFlags providers;
  std::string listen = "127.0.0.1:7233";
  bool workers = true;
  int max_concurrent_workflows = 256;
  int max_concurrent_activities = 16;
  std::string lease = "15s";
  std::string shutdown_grace = "10s";
  std::string log_format = "text";
};

absl::Notification* g_stop = nullptr;
void OnSignal(int) {
  if (g_stop != nullptr && !g_stop->HasBeenNotified()) g_stop->Notify();
}

class ServerInfoServiceImpl final : public vecsync::v1::ServerInfoService::Service {
 public:
  explicit ServerInfoServiceImpl(std::string identity) : identity_(std::move(identity)) {}
  grpc::Status GetServerInfo(grpc::ServerContext*, const vecsync::v1::GetServerInfoRequest*,
                             vecsync::v1::ServerInfo* info) override {
    info->set_version("0.1.0");
    info->set_schema_version(engine::LatestSchemaVersion());
    info->set_identity(identity_);
    return grpc::Status::OK;
  }

 private:
  std::string identity_;
};

void RunServer(const ServerFlags& flags) {
  if (flags.log_format == "json") SetLogFormat(LogFormat::kJson);
  auto lease = ParseDurationFlag(flags.lease, "--lease");
  if (!lease.ok()) return Fail(lease.status());
  auto grace = ParseDurationFlag(flags.shutdown_grace, "--shutdown-grace");
  if (!grace.ok()) return Fail(grace.status());

  {
    auto conn = PgConnection::Connect(flags.db.pg_url);
    if (!conn.ok()) return Fail(conn.status());
    auto applied = engine::Migrate(**conn);
    if (!applied.ok()) return Fail(applied.status());
  }
  // What the sync workflow talks to: the database, ClickHouse and the providers.
  PgPool sync_pool(flags.db.pg_url, 8);
  workflows::SyncEnvironment env;
  env.pool = &sync_pool;
  auto clickhouse = clients::ClickHouseClient::Create(flags.clickhouse_url);
  if (!clickhouse.ok()) return Fail(clickhouse.status());
  env.clickhouse = clickhouse->get();
  // Offline by default; an OpenAI-compatible provider when asked for explicitly.
  auto summarizer = MakeSummarizer(flags.providers);
  if (!summarizer.ok()) return Fail(summarizer.status());
  env.summarizer = summarizer->get();
  auto embedder = MakeEmbedder(flags.providers);
  if (!embedder.ok()) return Fail(embedder.status());
  env.embedder = embedder->get();
  engine::Registry registry;
  if (absl::Status s = workflows::RegisterAllWorkflows(&registry, &env); !s.ok()) return Fail(s);

  engine::WorkerOptions options;
  options.max_concurrent_workflows = flags.max_concurrent_workflows;
  options.max_concurrent_activities = flags.max_concurrent_activities;
  options.lease_duration = *lease;
  options.shutdown_grace = *grace;
  std::unique_ptr<engine::Worker> worker;
  if (flags.workers) {
    worker = std::make_unique<engine::Worker>(flags.db.pg_url, &registry, options);
    if (absl::Status s = worker->Start(); !s.ok()) return Fail(s);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ServerInfoServiceImpl info(worker ? worker->identity() : "api-only");
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&info);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    if (worker) worker->Shutdown();
    return Fail(absl::UnavailableError("cannot listen on " + flags.listen));
  }
  LogInfo("vecsync server ready",
          {{"listen", flags.listen}, {"workers", flags.workers ? "on" : "off"}});

  absl::Notification stop;
  g_stop = &stop;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  stop.WaitForNotification();
  LogInfo("shutting down");
  server->GetHealthCheckService()->SetServingStatus(false);
  if (worker) worker->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace

void AddServerCommand(CLI::App& app) {
  auto* flags = new ServerFlags;
  CLI::App* cmd = app.add_subcommand(
      "server", "Run the gRPC API and the workflow workers (migrates the schema first)");
  AddDatabaseFlags(cmd, &flags->db);
  cmd->add_option("--clickhouse-url", flags->clickhouse_url,
                  "ClickHouse HTTP URL, e.g. http://127.0.0.1:8123 (env VECSYNC_CLICKHOUSE_URL)")
      ->envname("VECSYNC_CLICKHOUSE_URL");
  AddProviderFlags(cmd, &flags->providers, /*summarizer=*/true);
  cmd->add_option("--listen", flags->listen, "gRPC listen address (env VECSYNC_LISTEN)")
      ->envname("VECSYNC_LISTEN")
      ->capture_default_str();
  cmd->add_flag("!--no-workers", flags->workers, "Serve the API only; run no workers");
  cmd->add_option("--max-concurrent-workflows", flags->max_concurrent_workflows,
                  "Workflow runs this process executes at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-concurrent-activities", flags->max_concurrent_activities,
                  "Activity attempts this process executes at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--lease", flags->lease,
                  "How long a claim survives without renewal (another worker takes over after)")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", flags->shutdown_grace,
                  "On SIGTERM, how long running activities may finish before being handed back")
      ->capture_default_str();
  cmd->add_option("--log-format", flags->log_format, "Log lines as text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([flags] { RunServer(*flags); });
}

void AddHealthCommand(CLI::App& app) {
  auto* address = new std::string("127.0.0.1:7233");
  CLI::App* cmd = app.add_subcommand("health", "Exit 0 when the server at --address is serving");
  cmd->add_option("--address", *address, "Server address")->capture_default_str();
  cmd->callback([address] {
    auto channel = grpc::CreateChannel(*address, grpc::InsecureChannelCredentials());
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (!s.ok()) {
      return Fail(absl::UnavailableError("server at " + *address +
                                         " is not answering: " + s.error_message()));
    }
    if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return Fail(absl::UnavailableError("server at " + *address + " is not serving"));
    }
    std::cout << "SERVING\n";
  });
}

}  // namespace vecsync::cli
