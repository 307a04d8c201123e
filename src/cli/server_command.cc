// `vecsync server`: the gRPC API (workflows, search, health, reflection, server info) and the
// engine's worker in one process; `vecsync health`: asks a server whether it is serving.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "src/api/api_server.h"
#include "src/api/bearer_auth.h"
#include "src/api/entity_service.h"
#include "src/api/grpc_status.h"
#include "src/api/reflection_service.h"
#include "src/api/run_change_feed.h"
#include "src/api/schedule_service.h"
#include "src/api/search_service.h"
#include "src/api/workflow_service.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "src/cli/provider_flags.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/prices.h"
#include "src/common/http_server.h"
#include "src/common/listen_address.h"
#include "src/common/log.h"
#include "src/common/metrics.h"
#include "src/common/pg.h"
#include "src/common/pg_pool.h"
#include "src/console/console_server.h"
#include "src/engine/client.h"
#include "src/engine/migrations.h"
#include "src/engine/scheduler.h"
#include "src/engine/schedules.h"
#include "src/engine/worker.h"
#include "vecsync/v1/server_info.grpc.pb.h"
#include "workflows/register_all.h"
#include "workflows/sync/change_feed.h"
#include "workflows/sync/sync_metrics.h"

namespace vecsync::cli {
namespace {

struct ServerFlags {
  std::string config_file;  // Applied before parsing (src/cli/config_file.h).
  DatabaseFlags db;
  std::string clickhouse_url;
  ProviderFlags providers;
  std::string listen = "127.0.0.1:7233";
  std::string metrics_listen = "127.0.0.1:9464";
  std::string console_listen = "127.0.0.1:9465";
  std::string auth_token_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool api = true;
  bool workers = true;
  bool scheduler = true;
  bool change_feed = true;
  bool insecure = false;
  std::vector<std::string> prices;  // MODEL=INPUT[/OUTPUT], over the built-in table.
  int max_concurrent_workflows = 256;
  int max_concurrent_activities = 16;
  std::string lease = "15s";
  std::string shutdown_grace = "10s";
  std::string log_format = "text";
};

// Set by SIGTERM and SIGINT. A lock-free atomic: all a signal handler may safely touch.
std::atomic<bool> g_stop_requested{false};
void OnSignal(int) { g_stop_requested.store(true); }

// Gauges read from the database at each scrape, cluster-wide: what is running and waiting. Each
// query uses a partial index, so a scrape costs little however long the history grows.
void CollectDatabaseGauges(PgPool* pool) {
  static metrics::Gauge& running =
      metrics::Gauge::Get("vecsync_workflows_running",
                          "Workflow runs RUNNING in the database, by type", {"workflow_type"});
  static metrics::Gauge& queue = metrics::Gauge::Get(
      "vecsync_activity_queue_depth",
      "Activity attempts waiting to be claimed (ready now, or retrying later)", {"state"});
  static metrics::Gauge& schedules =
      metrics::Gauge::Get("vecsync_schedules", "Schedules in the database, by state", {"state"});
  auto conn = pool->Acquire();
  if (!conn.ok()) return;
  if (auto r = (*conn)->Query("SELECT workflow_type, count(*) FROM vecsync.executions "
                              "WHERE status = 'RUNNING' GROUP BY 1");
      r.ok()) {
    running.Clear();
    for (int i = 0; i < r->rows(); ++i) running.Set({r->GetString(i, 0)}, r->GetDouble(i, 1));
  }
  if (auto r =
          (*conn)->Query("SELECT count(*) FILTER (WHERE visible_at <= now()), "
                         "  count(*) FILTER (WHERE visible_at > now()) "
                         "FROM vecsync.steps WHERE kind = 'activity' AND status = 'SCHEDULED'");
      r.ok() && r->rows() == 1) {
    queue.Set({"ready"}, r->GetDouble(0, 0));
    queue.Set({"backing_off"}, r->GetDouble(0, 1));
  }
  if (auto r = (*conn)->Query("SELECT count(*) FILTER (WHERE NOT paused), "
                              "  count(*) FILTER (WHERE paused) FROM vecsync.schedules");
      r.ok() && r->rows() == 1) {
    schedules.Set({"active"}, r->GetDouble(0, 0));
    schedules.Set({"paused"}, r->GetDouble(0, 1));
  }
}

// What a server is (version, schema, host and pid): behind the token when auth is on, as it tells
// a stranger what to attack.
class ServerInfoServiceImpl final : public vecsync::v1::ServerInfoService::Service {
 public:
  ServerInfoServiceImpl(std::string identity, const api::BearerAuth* auth)
      : identity_(std::move(identity)), auth_(auth) {}
  grpc::Status GetServerInfo(grpc::ServerContext* context, const vecsync::v1::GetServerInfoRequest*,
                             vecsync::v1::ServerInfo* info) override {
    if (absl::Status s = auth_->Check(*context); !s.ok()) return api::ToGrpcStatus(s);
    info->set_version("0.1.0");
    info->set_schema_version(engine::EngineMigrations().latest());
    info->set_identity(identity_);
    return grpc::Status::OK;
  }

 private:
  std::string identity_;
  const api::BearerAuth* const auth_;
};

// Refuses `what` (the API, the console) listening on `listen` beyond this machine with no tokens
// (anyone who reaches it may start, terminate and read runs) unless --insecure says the network
// is trusted; warns, loudly, when tokens would travel in cleartext.
absl::Status CheckExposure(const std::string& what, const std::string& listen, bool auth, bool tls,
                           bool insecure) {
  if (IsLoopbackAddress(listen)) return absl::OkStatus();
  if (!auth && !insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve ", what, " on ", listen,
        " without auth: anyone who reaches it may start, terminate and read workflows. Set "
        "VECSYNC_AUTH_TOKENS or --auth-token-file (with --tls-cert/--tls-key), listen on "
        "127.0.0.1, or pass --insecure if only trusted peers can reach this address"));
  }
  if (!auth) {
    LogWarning(
        absl::StrCat("INSECURE: ", what, " serves without auth beyond loopback (--insecure)"),
        {{"listen", listen}});
  } else if (!tls) {
    LogWarning(absl::StrCat(what,
                            " serves without TLS beyond loopback: bearer tokens travel in "
                            "cleartext unless a proxy or mesh encrypts the connection"),
               {{"listen", listen}});
  }
  return absl::OkStatus();
}

void RunServer(const ServerFlags& flags) {
  if (flags.log_format == "json") SetLogFormat(LogFormat::kJson);
  auto lease = ParseDurationFlag(flags.lease, "--lease");
  if (!lease.ok()) return Fail(lease.status());
  auto grace = ParseDurationFlag(flags.shutdown_grace, "--shutdown-grace");
  if (!grace.ok()) return Fail(grace.status());

  // Who may call, checked before anything starts.
  std::vector<std::string> tokens;
  if (!flags.auth_token_file.empty()) {
    auto read = api::BearerAuth::ReadTokenFile(flags.auth_token_file);
    if (!read.ok()) return Fail(read.status());
    tokens = std::move(*read);
  } else if (const char* env = std::getenv("VECSYNC_AUTH_TOKENS"); env != nullptr && *env) {
    tokens = absl::StrSplit(env, ',', absl::SkipWhitespace());
    // Set, and naming no token (",", " "): auth meant, and off would be a silent surprise.
    if (tokens.empty()) {
      return Fail(absl::InvalidArgumentError(
          "VECSYNC_AUTH_TOKENS is set but names no token (tokens are separated by commas); "
          "unset it to run without auth"));
    }
  }
  auto auth = api::BearerAuth::Create(std::move(tokens));
  if (!auth.ok()) return Fail(auth.status());
  if (flags.api) {
    if (absl::Status s = CheckExposure("the API", flags.listen, auth->enabled(),
                                       !flags.tls_cert_file.empty(), flags.insecure);
        !s.ok()) {
      return Fail(s);
    }
  }
  const bool console = flags.api && flags.console_listen != "off";
  if (console) {
    if (absl::Status s = CheckExposure("the web console", flags.console_listen, auth->enabled(),
                                       /*tls=*/false, flags.insecure);
        !s.ok()) {
      return Fail(s);
    }
  }
  clients::PriceTable prices = clients::PriceTable::BuiltIn();
  for (const std::string& spec : flags.prices) {
    if (absl::Status s = prices.Set(spec); !s.ok()) return Fail(s);
  }

  {
    auto conn = PgConnection::Connect(flags.db.pg_url);
    if (!conn.ok()) return Fail(conn.status());
    auto applied = workflows::MigrateAll(**conn);
    if (!applied.ok()) return Fail(applied.status());
  }
  // What the sync workflow talks to: the database, ClickHouse and the providers.
  PgPool sync_pool(flags.db.pg_url, 8);
  const entities::EntityConfigRegistry domains = entities::EntityConfigRegistry::BuiltIn();
  workflows::SyncEnvironment env;
  env.pool = &sync_pool;
  env.domains = &domains;
  auto clickhouse = clients::ClickHouseClient::Create(flags.clickhouse_url);
  if (!clickhouse.ok()) return Fail(clickhouse.status());
  workflows::VectorTable vectors(clickhouse->get(), "pg_embeddings");
  env.vectors = &vectors;
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

  // The control plane (API and scheduler) gets its own pool, so it never waits behind the
  // workers' connections.
  PgPool control_pool(flags.db.pg_url, 8);
  engine::Client client(&control_pool, &registry);
  PgPool schedule_pool(flags.db.pg_url, 4);  // Apart from the client's: see schedules.h.
  engine::Schedules schedules(&schedule_pool, &registry, &client);
  std::unique_ptr<engine::Scheduler> scheduler;
  if (flags.scheduler) {
    scheduler = std::make_unique<engine::Scheduler>(&schedules);
    scheduler->Start();
  }
  // Commits reach ClickHouse within seconds where logical replication is allowed; otherwise the
  // feed says why, once, and schedules poll.
  std::unique_ptr<workflows::ChangeFeed> change_feed;
  if (flags.change_feed) {
    workflows::ChangeFeedOptions feed_options;
    feed_options.pg_url = flags.db.pg_url;
    change_feed = std::make_unique<workflows::ChangeFeed>(feed_options, &domains, &client);
    change_feed->Start();
  }
  auto stop_engine = [&] {
    if (change_feed) change_feed->Stop();
    if (scheduler) scheduler->Shutdown();
    if (worker) worker->Shutdown();
  };
  auto fail = [&](const absl::Status& status) {
    stop_engine();
    Fail(status);
  };

  api::RunChangeFeed feed(flags.db.pg_url);
  api::WorkflowService workflow_service(&client, &feed, &*auth);
  api::ScheduleService schedule_service(&schedules, &*auth);
  EmbedderSet embedders(flags.providers, env.embedder);
  api::SearchService search_service(
      &vectors, &domains, env.embedder, &*auth, &control_pool,
      [&embedders](const std::string& profile) { return embedders.For(profile); });
  api::EntityService entity_service(&control_pool, &domains, &*auth, &env, &prices);
  ServerInfoServiceImpl info(worker ? worker->identity() : "control-plane", &*auth);
  api::ReflectionService reflection(
      &*auth, {v1::WorkflowService::service_full_name(), v1::ScheduleService::service_full_name(),
               v1::SearchService::service_full_name(), v1::EntityService::service_full_name(),
               v1::ServerInfoService::service_full_name(), "grpc.health.v1.Health"});
  std::unique_ptr<api::ApiServer> server;
  if (flags.api) {
    feed.Start();
    api::ApiServerOptions api_options;
    api_options.listen = flags.listen;
    api_options.tls_cert_file = flags.tls_cert_file;
    api_options.tls_key_file = flags.tls_key_file;
    auto started =
        api::ApiServer::Start(api_options, {&workflow_service, &schedule_service, &search_service,
                                            &entity_service, &info, &reflection});
    if (!started.ok()) return fail(started.status());
    server = std::move(*started);
  }
  // The web console, calling the API in-process as the token it is given.
  std::unique_ptr<console::ConsoleServer> console_server;
  if (console && server) {
    auto started = console::ConsoleServer::Start(flags.console_listen, server->InProcessChannel());
    if (!started.ok()) return fail(started.status());
    console_server = std::move(*started);
  }
  // Operators' endpoint: Prometheus metrics, liveness and readiness.
  std::atomic<bool> shutting_down{false};
  std::unique_ptr<HttpServer> ops;
  if (!flags.metrics_listen.empty() && flags.metrics_listen != "off") {
    metrics::AddCollector([&control_pool, &domains] {
      CollectDatabaseGauges(&control_pool);
      if (auto conn = control_pool.Acquire(); conn.ok()) {
        workflows::CollectSyncGauges(**conn);
        workflows::CollectSyncStatusGauges(**conn, domains);
      }
    });
    auto started = HttpServer::Start(
        flags.metrics_listen,
        {{"/metrics",
          [] {
            return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                metrics::RenderAll()};
          }},
         {"/healthz",
          [] {
            return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
          }},
         {"/readyz", [&] {
            if (shutting_down)
              return HttpResponse{503, "text/plain; charset=utf-8", "shutting down\n"};
            auto conn = control_pool.Acquire();
            absl::Status s = conn.ok() ? (*conn)->Execute("SELECT 1") : conn.status();
            if (!s.ok()) {
              return HttpResponse{503, "text/plain; charset=utf-8",
                                  "database unavailable: " + std::string(s.message()) + "\n"};
            }
            return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
          }}});
    if (!started.ok()) return fail(started.status());
    ops = std::move(*started);
  }
  LogInfo(
      "vecsync server ready",
      {{"api", server ? absl::StrCat(flags.listen, " (port ", server->port(), ")") : "off"},
       {"tls", server && server->tls() ? "on" : "off"},
       {"auth", auth->enabled() ? "bearer" : "off"},
       {"workers", flags.workers ? "on" : "off"},
       {"scheduler", flags.scheduler ? "on" : "off"},
       {"change_feed",
        flags.change_feed ? "on (unless logical replication is unavailable)" : "off"},
       {"metrics", ops ? absl::StrCat(flags.metrics_listen, " (port ", ops->port(), ")") : "off"},
       {"console", console_server ? absl::StrCat("http://", flags.console_listen, " (port ",
                                                 console_server->port(), ")")
                                  : "off"}});

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_stop_requested.load()) absl::SleepFor(absl::Milliseconds(50));
  LogInfo("shutting down");
  shutting_down = true;
  if (server) server->SetServing(false);
  stop_engine();
  if (console_server) console_server->Shutdown();
  if (server) server->Shutdown(absl::Seconds(5));
  feed.Stop();
  if (ops) ops->Shutdown();
}

}  // namespace

void AddServerCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static ServerFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand(
      "server",
      "Run the gRPC API, the workflow workers and the scheduler (migrates the schema first)");
  cmd->add_option("--config", flags->config_file,
                  "Read settings from this file: 'setting = value' lines named like these flags "
                  "(flags win over environment variables, which win over the file; env "
                  "VECSYNC_CONFIG)")
      ->envname("VECSYNC_CONFIG");
  AddDatabaseFlags(cmd, &flags->db);
  cmd->add_option("--clickhouse-url", flags->clickhouse_url,
                  "ClickHouse HTTP URL, e.g. http://127.0.0.1:8123 (env VECSYNC_CLICKHOUSE_URL)")
      ->envname("VECSYNC_CLICKHOUSE_URL");
  AddProviderFlags(cmd, &flags->providers);
  cmd->add_option("--listen", flags->listen, "gRPC listen address (env VECSYNC_LISTEN)")
      ->envname("VECSYNC_LISTEN")
      ->capture_default_str();
  cmd->add_option("--metrics-listen", flags->metrics_listen,
                  "Prometheus /metrics, /healthz and /readyz address; 'off' disables "
                  "(env VECSYNC_METRICS_LISTEN)")
      ->envname("VECSYNC_METRICS_LISTEN")
      ->capture_default_str();
  cmd->add_option("--console-listen", flags->console_listen,
                  "The web console's address (runs, schedules, sync status, failed entities, "
                  "search; behind the same tokens as the API); 'off' disables. Beyond loopback "
                  "only with tokens or --insecure (env VECSYNC_CONSOLE_LISTEN)")
      ->envname("VECSYNC_CONSOLE_LISTEN")
      ->capture_default_str();
  cmd->add_option("--auth-token-file", flags->auth_token_file,
                  "Require 'authorization: Bearer <token>' on API calls, accepting any token in "
                  "this file (one per line). Env VECSYNC_AUTH_TOKENS: comma-separated tokens")
      ->envname("VECSYNC_AUTH_TOKEN_FILE");
  cmd->add_option("--tls-cert", flags->tls_cert_file, "Serve TLS with this certificate (PEM)")
      ->envname("VECSYNC_TLS_CERT");
  cmd->add_option("--tls-key", flags->tls_key_file, "The TLS certificate's private key (PEM)")
      ->envname("VECSYNC_TLS_KEY");
  cmd->add_option("--price", flags->prices,
                  "What a model costs, MODEL=INPUT[/OUTPUT] dollars per million tokens (e.g. "
                  "gpt-4.1-mini=0.40/1.60), over the built-in list prices; repeatable. Plans and "
                  "status price tokens with it")
      ->check(CLI::Validator(
          [](std::string& spec) {
            clients::PriceTable table;
            absl::Status s = table.Set(spec);
            return s.ok() ? std::string() : std::string(s.message());
          },
          "MODEL=INPUT[/OUTPUT]"));
  cmd->add_flag("--insecure", flags->insecure,
                "Serve the API beyond loopback without auth (only where nothing untrusted can "
                "reach it; env VECSYNC_INSECURE)")
      ->envname("VECSYNC_INSECURE");
  cmd->add_flag("!--no-api", flags->api, "Serve no gRPC API (run workers and/or the scheduler)");
  cmd->add_flag("!--no-workers", flags->workers, "Run no workflow or activity workers");
  cmd->add_flag("!--no-scheduler", flags->scheduler,
                "Run no scheduler (schedules still fire once per due time with any number of "
                "schedulers)");
  cmd->add_flag("!--no-change-feed", flags->change_feed,
                "Stream no changes by logical replication: syncs run only when started or "
                "scheduled");
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
      ->check(DurationValidator())
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", flags->shutdown_grace,
                  "On SIGTERM, how long running activities may finish before being handed back")
      ->check(DurationValidator())
      ->capture_default_str();
  cmd->add_option("--log-format", flags->log_format, "Log lines as text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([flags] { RunServer(*flags); });
}

void AddHealthCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static ApiFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand("health", "Exit 0 when the server at --address is serving");
  AddApiFlags(cmd, flags);
  cmd->callback([flags] {
    absl::StatusOr<ApiChannel> api = ApiChannel::Open(*flags);
    if (!api.ok()) return Fail(api.status());
    auto stub = grpc::health::v1::Health::NewStub(api->channel());
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(api->Context(absl::Seconds(3)).get(), req, &resp);
    if (!s.ok()) return Fail(api->Error(s));
    if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return Fail(absl::UnavailableError("server at " + flags->address + " is not serving"));
    }
    PrintOutcome(flags->output, {{"address", flags->address}, {"status", "SERVING"}}, "SERVING");
  });
}

}  // namespace vecsync::cli
