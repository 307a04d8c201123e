#include "src/replication/replication_stream.h"

#include <libpq-fe.h>
#include <poll.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace vecsync {
namespace {

constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000;

std::string ErrorOf(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

uint64_t ReadInt64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void AppendInt64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// Quotes `text` as a SQL literal.
std::string Literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicationStream>> ReplicationStream::Start(
    const std::string& url, const std::string& slot, const std::string& publication,
    pgoutput::Lsn start) {
  const char* keywords[] = {"dbname", "replication", "fallback_application_name", nullptr};
  const char* values[] = {url.c_str(), "database", "vecsync change feed", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  auto stream = std::unique_ptr<ReplicationStream>(new ReplicationStream(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string error = ErrorOf(conn);
    if (error.find("no pg_hba.conf entry for replication") != std::string::npos ||
        error.find("must be superuser or replication role") != std::string::npos ||
        error.find("permission denied") != std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("a replication connection is not allowed: ", error));
    }
    return absl::UnavailableError(absl::StrCat("cannot open a replication connection: ", error));
  }
  // Identifiers are vecsync's own names (letters, digits, underscores).
  const std::string command =
      absl::StrCat("START_REPLICATION SLOT ", slot, " LOGICAL ", pgoutput::FormatLsn(start),
                   " (proto_version '1', publication_names ", Literal(publication), ")");
  PGresult* result = PQexec(conn, command.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::string error;
  std::string sqlstate;
  if (status != PGRES_COPY_BOTH) {
    error = ErrorOf(conn);
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
  }
  PQclear(result);
  if (status == PGRES_COPY_BOTH) return stream;
  // 55006 object_in_use: another session streams the slot (another vecsync server).
  if (sqlstate == "55006") {
    return absl::UnavailableError(absl::StrCat("the replication slot is busy: ", error));
  }
  if (sqlstate == "42501" || sqlstate == "55000" || sqlstate == "42704") {
    return absl::FailedPreconditionError(absl::StrCat("cannot stream the slot: ", error));
  }
  return absl::UnavailableError(absl::StrCat("cannot start replication: ", error));
}

ReplicationStream::~ReplicationStream() { PQfinish(conn_); }

absl::StatusOr<std::optional<ReplicationStream::Event>> ReplicationStream::Next(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(conn_, &buffer, /*async=*/1);
    if (n > 0) {
      const std::string message(buffer, static_cast<size_t>(n));
      PQfreemem(buffer);
      Event event;
      if (message[0] == 'w' && message.size() >= 25) {
        event.wal_start = ReadInt64(message.data() + 1);
        event.wal_end = ReadInt64(message.data() + 9);
        event.data = message.substr(25);
        return event;
      }
      if (message[0] == 'k' && message.size() >= 18) {
        event.keepalive = true;
        event.wal_end = ReadInt64(message.data() + 1);
        event.reply_requested = message[17] != 0;
        return event;
      }
      return absl::InternalError(
          absl::StrCat("an unknown replication message '", std::string(1, message[0]), "'"));
    }
    if (n == -1) {
      PGresult* result = PQgetResult(conn_);
      const std::string error = ErrorOf(conn_);
      PQclear(result);
      return absl::UnavailableError(absl::StrCat("the replication stream ended: ", error));
    }
    if (n == -2) {
      return absl::UnavailableError(
          absl::StrCat("the replication stream failed: ", ErrorOf(conn_)));
    }
    // Nothing buffered: wait for the socket, up to the deadline.
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError("poll on the replication connection failed");
    }
    if (ready > 0 && PQconsumeInput(conn_) == 0) {
      return absl::UnavailableError(
          absl::StrCat("the replication connection dropped: ", ErrorOf(conn_)));
    }
  }
}

absl::Status ReplicationStream::Confirm(pgoutput::Lsn processed) {
  std::string update = "r";
  AppendInt64(&update, processed);  // Written,
  AppendInt64(&update, processed);  // flushed,
  AppendInt64(&update, processed);  // applied.
  AppendInt64(&update,
              static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()) - kPostgresEpochUnixMicros));
  update.push_back(0);  // No reply wanted.
  if (PQputCopyData(conn_, update.data(), static_cast<int>(update.size())) != 1 ||
      PQflush(conn_) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot confirm the replication position: ", ErrorOf(conn_)));
  }
  return absl::OkStatus();
}

}  // namespace vecsync
