#include "tests/test_env.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/common/pg.h"
#include "src/common/uuid.h"
#include "src/engine/migrations.h"

namespace vecsync::testing {
namespace {

std::string ServerUrl() {
  const char* url = std::getenv("VECSYNC_PG_URL");
  if (url == nullptr || *url == '\0') {
    std::cerr << "VECSYNC_PG_URL is not set: run the tests through scripts/test, or "
                 "`eval \"$(scripts/services env)\"` after `scripts/services up`\n";
    std::abort();
  }
  return url;
}

// Replaces the database name of a postgresql:// URL.
std::string WithDatabase(const std::string& url, const std::string& db) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = url.find('?');
  const std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  const std::string rest = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + rest;
}

std::string g_db_name;

void DropTestDatabase() {
  auto conn = PgConnection::Connect(ServerUrl());
  if (conn.ok()) {
    // A change feed's slot would keep the database from being dropped.
    (void)(*conn)->Query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1",
        g_db_name);
    (void)(*conn)->Execute(absl::StrCat("DROP DATABASE IF EXISTS ", g_db_name, " WITH (FORCE)"));
  }
}

}  // namespace

const std::string& TestDatabaseUrl() {
  static const std::string* url = [] {
    g_db_name = absl::StrCat("vecsync_test_", getpid(), "_", NewUuid().substr(0, 8));
    auto conn = PgConnection::Connect(ServerUrl());
    if (!conn.ok()) {
      std::cerr << "cannot reach the test PostgreSQL: " << conn.status() << "\n";
      std::abort();
    }
    absl::Status s = (*conn)->Execute(absl::StrCat("CREATE DATABASE ", g_db_name));
    if (!s.ok()) {
      std::cerr << "cannot create the test database: " << s << "\n";
      std::abort();
    }
    std::atexit(DropTestDatabase);
    return new std::string(WithDatabase(ServerUrl(), g_db_name));
  }();
  return *url;
}

absl::Status ResetEngineSchema() {
  auto conn = PgConnection::Connect(TestDatabaseUrl());
  if (!conn.ok()) return conn.status();
  absl::Status s = (*conn)->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE");
  if (!s.ok()) return s;
  return engine::Migrate(**conn, engine::EngineMigrations()).status();
}

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

}  // namespace vecsync::testing
