#include "src/common/pg.h"

#include <libpq-fe.h>

#include <cstdlib>

#include "absl/base/casts.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync {

std::string PgSqlState(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kPgSqlStatePayload);
  return payload ? std::string(*payload) : std::string();
}

PgResult::PgResult(pg_result* result) : result_(result) {}
PgResult::PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}
PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }
int PgResult::columns() const { return result_ == nullptr ? 0 : PQnfields(result_); }
int64_t PgResult::affected_rows() const {
  if (result_ == nullptr) return 0;
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
}
bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
absl::string_view PgResult::Get(int row, int column) const {
  return absl::string_view(PQgetvalue(result_, row, column),
                           static_cast<size_t>(PQgetlength(result_, row, column)));
}
bool PgResult::IsBinary(int column) const { return PQfformat(result_, column) == 1; }

namespace {

// A big-endian signed integer of 2, 4 or 8 bytes (smallint, integer, bigint) as the binary
// format sends them; `fallback` for any other size (numeric, say, which must be cast).
int64_t BigEndianInt(absl::string_view bytes, int64_t fallback) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  switch (bytes.size()) {
    case 2:
      return static_cast<int16_t>(v);
    case 4:
      return static_cast<int32_t>(v);
    case 8:
      return static_cast<int64_t>(v);
    default:
      return fallback;
  }
}

void AppendBigEndian32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

int64_t PgResult::GetInt64(int row, int column, int64_t fallback) const {
  if (IsNull(row, column)) return fallback;
  if (IsBinary(column)) return BigEndianInt(Get(row, column), fallback);
  int64_t v = fallback;
  return absl::SimpleAtoi(Get(row, column), &v) ? v : fallback;
}
double PgResult::GetDouble(int row, int column, double fallback) const {
  if (IsNull(row, column)) return fallback;
  if (IsBinary(column)) {
    const absl::string_view bytes = Get(row, column);
    if (bytes.size() != sizeof(float) && bytes.size() != sizeof(double)) return fallback;
    const uint64_t bits = static_cast<uint64_t>(BigEndianInt(bytes, 0));
    if (bytes.size() == sizeof(float)) return absl::bit_cast<float>(static_cast<uint32_t>(bits));
    return absl::bit_cast<double>(bits);
  }
  double v = fallback;
  return absl::SimpleAtod(Get(row, column), &v) ? v : fallback;
}
bool PgResult::GetBool(int row, int column) const {
  if (IsNull(row, column)) return false;
  return IsBinary(column) ? Get(row, column) == absl::string_view("\1", 1)
                          : Get(row, column) == "t";
}
std::optional<std::string> PgResult::GetOptional(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return GetString(row, column);
}

nlohmann::json PgResult::GetJson(int row, int column) const {
  if (IsNull(row, column)) return nullptr;
  const absl::string_view text = Get(row, column);
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return nlohmann::json();
  return j;  // Moved: a `?:` here would copy the whole document.
}

namespace {

void AppendQuotedElement(std::string* out, absl::string_view element) {
  *out += '"';
  for (char c : element) {
    if (c == '"' || c == '\\') *out += '\\';
    *out += c;
  }
  *out += '"';
}

}  // namespace

std::string PgArrayLiteral(const std::vector<std::string>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuotedElement(&out, elements[i]);
  }
  out += '}';
  return out;
}

std::string PgArrayLiteral(const std::vector<std::optional<std::string>>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    if (elements[i]) {
      AppendQuotedElement(&out, *elements[i]);
    } else {
      out += "NULL";
    }
  }
  out += '}';
  return out;
}

std::string PgArrayLiteral(const std::vector<int64_t>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, elements[i]);
  }
  out += '}';
  return out;
}

void PgBinaryArray::Add(absl::string_view bytes) {
  AppendBigEndian32(&body_, static_cast<uint32_t>(bytes.size()));
  body_.append(bytes.data(), bytes.size());
  ++count_;
}

void PgBinaryArray::Add(int64_t value) {
  AppendBigEndian32(&body_, 8);
  AppendBigEndian32(&body_, static_cast<uint32_t>(static_cast<uint64_t>(value) >> 32));
  AppendBigEndian32(&body_, static_cast<uint32_t>(static_cast<uint64_t>(value)));
  ++count_;
}

void PgBinaryArray::AddNull() {
  AppendBigEndian32(&body_, 0xFFFFFFFFu);  // Length -1.
  has_null_ = true;
  ++count_;
}

PgParam PgBinaryArray::Build() && {
  // The header goes in the room kept for it at the front: the elements are not copied again.
  std::string header;
  AppendBigEndian32(&header, count_ == 0 ? 0 : 1);  // dimensions
  AppendBigEndian32(&header, has_null_ ? 1 : 0);
  AppendBigEndian32(&header, element_oid_);
  if (count_ > 0) {
    AppendBigEndian32(&header, count_);
    AppendBigEndian32(&header, 1);  // lower bound
  }
  body_.replace(0, kHeaderRoom, header);
  return PgParam::Binary(std::move(body_));
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& url,
                                                                    PlanCache plans) {
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "no PostgreSQL URL: set VECSYNC_PG_URL or pass --pg-url (postgresql://user@host:port/db)");
  }
  // vecsync's sessions name themselves in pg_stat_activity, unless the URL names them otherwise.
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {url.c_str(), "vecsync", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", message));
  }
  auto connection = std::unique_ptr<PgConnection>(new PgConnection(conn));
  // Quiet NOTICE messages (e.g. "schema already exists") and pin the session time zone.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  absl::Status s = connection->Execute(plans == PlanCache::kCustomPlans
                                           ? "SET TIME ZONE 'UTC'; SET plan_cache_mode = "
                                             "force_custom_plan"
                                           : "SET TIME ZONE 'UTC'; SET plan_cache_mode = auto");
  if (!s.ok()) return s;
  return connection;
}

PgConnection::PgConnection(pg_conn* conn) : conn_(conn) {}
PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

absl::Status PgConnection::StatusFromResult(pg_result* result, absl::string_view sql) {
  ExecStatusType status = result == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  if (PQstatus(conn_) != CONNECTION_OK || result == nullptr) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("lost the PostgreSQL connection: ", PQerrorMessage(conn_)));
  }
  const char* state_c = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string state = state_c == nullptr ? "" : state_c;
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string message = primary == nullptr ? PQresultErrorMessage(result) : primary;
  absl::Status out;
  if (state == "40001" || state == "40P01") {
    out = absl::AbortedError(message);
  } else if (state == "23505") {
    out = absl::AlreadyExistsError(message);
  } else if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" ||
             state == "57P03") {
    broken_ = true;
    out = absl::UnavailableError(absl::StrCat("PostgreSQL unavailable: ", message));
  } else if (state == "22P02" || state == "22023") {
    out = absl::InvalidArgumentError(message);
  } else {
    absl::string_view head = sql.substr(0, 120);
    out = absl::InternalError(absl::StrCat("PostgreSQL error ", state, ": ", message, " [", head,
                                           head.size() < sql.size() ? "…" : "", "]"));
  }
  out.SetPayload(kPgSqlStatePayload, absl::Cord(state));
  return out;
}

absl::StatusOr<std::string> PgConnection::PreparedName(const std::string& sql, int params) {
  if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
  if (seen_once_.insert(sql).second) {
    if (seen_once_.size() > 4 * kMaxPreparedStatements) seen_once_.clear();
    return std::string();
  }
  if (prepared_.size() >= kMaxPreparedStatements) ForgetPrepared();
  std::string name = absl::StrCat("vecsync_", ++next_statement_);
  PgResult prepared(PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr));
  RETURN_IF_ERROR(StatusFromResult(prepared.result_, sql));
  prepared_.emplace(sql, name);
  return name;
}

void PgConnection::ForgetPrepared() {
  // Inside a failed transaction DEALLOCATE fails too; the names are unique, so a statement left
  // behind only costs the server a little memory until the connection closes.
  (void)Execute("DEALLOCATE ALL");
  prepared_.clear();
}

namespace {

// libpq's parallel arrays for a statement's parameters.
struct ParamArrays {
  explicit ParamArrays(const std::vector<PgParam>& params) {
    for (const PgParam& p : params) {
      values.push_back(p.is_null() ? nullptr : p.value().c_str());
      lengths.push_back(static_cast<int>(p.value().size()));
      formats.push_back(p.binary() ? 1 : 0);
    }
  }
  int count() const { return static_cast<int>(values.size()); }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

}  // namespace

bool PgConnection::ForgetIfResultTypeChanged(const absl::Status& status, const std::string& sql) {
  // DDL changed what a prepared statement returns, and PostgreSQL refuses to run it again.
  if (PgSqlState(status) != "0A000" ||
      !absl::StrContains(status.message(), "cached plan must not change result type")) {
    return false;
  }
  prepared_.erase(sql);  // Its name is never reused; the next use prepares it afresh.
  return true;
}

absl::StatusOr<PgResult> PgConnection::QueryParams(absl::string_view sql,
                                                   const std::vector<PgParam>& params,
                                                   ResultFormat format) {
  if (broken_) return absl::UnavailableError("PostgreSQL connection is broken");
  const ParamArrays p(params);
  const int result_format = format == ResultFormat::kBinary ? 1 : 0;
  std::string sql_z(sql);
  ASSIGN_OR_RETURN(std::string name, PreparedName(sql_z, p.count()));
  if (name.empty()) {
    PgResult result(PQexecParams(conn_, sql_z.c_str(), p.count(), nullptr, p.values.data(),
                                 p.lengths.data(), p.formats.data(), result_format));
    RETURN_IF_ERROR(StatusFromResult(result.result_, sql));
    return result;
  }
  PgResult result(PQexecPrepared(conn_, name.c_str(), p.count(), p.values.data(), p.lengths.data(),
                                 p.formats.data(), result_format));
  absl::Status s = StatusFromResult(result.result_, sql);
  // Outside a transaction, run it once more unnamed. Inside one the transaction is aborted: the
  // caller's retry prepares it afresh.
  if (ForgetIfResultTypeChanged(s, sql_z) && PQtransactionStatus(conn_) == PQTRANS_IDLE) {
    (void)Execute(absl::StrCat("DEALLOCATE ", name));
    PgResult again(PQexecParams(conn_, sql_z.c_str(), p.count(), nullptr, p.values.data(),
                                p.lengths.data(), p.formats.data(), result_format));
    RETURN_IF_ERROR(StatusFromResult(again.result_, sql));
    return again;
  }
  RETURN_IF_ERROR(s);
  return result;
}

absl::Status PgConnection::QueryRows(absl::string_view sql, const std::vector<PgParam>& params,
                                     ResultFormat format,
                                     absl::FunctionRef<absl::Status(const PgResult&)> row) {
  if (broken_) return absl::UnavailableError("PostgreSQL connection is broken");
  const ParamArrays p(params);
  const int result_format = format == ResultFormat::kBinary ? 1 : 0;
  std::string sql_z(sql);
  ASSIGN_OR_RETURN(std::string name, PreparedName(sql_z, p.count()));
  const int sent =
      name.empty() ? PQsendQueryParams(conn_, sql_z.c_str(), p.count(), nullptr, p.values.data(),
                                       p.lengths.data(), p.formats.data(), result_format)
                   : PQsendQueryPrepared(conn_, name.c_str(), p.count(), p.values.data(),
                                         p.lengths.data(), p.formats.data(), result_format);
  if (sent == 0) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("lost the PostgreSQL connection: ", PQerrorMessage(conn_)));
  }
  PQsetSingleRowMode(conn_);
  // Every result is read, even after a failure, so the connection is ready for the next call.
  absl::Status out;
  while (pg_result* raw = PQgetResult(conn_)) {
    PgResult result(raw);
    if (PQresultStatus(raw) == PGRES_SINGLE_TUPLE) {
      if (out.ok()) out = row(result);
    } else if (absl::Status s = StatusFromResult(raw, sql); !s.ok() && out.ok()) {
      ForgetIfResultTypeChanged(s, sql_z);
      out = s;
    }
  }
  return out;
}

absl::Status PgConnection::Execute(absl::string_view sql) {
  if (broken_) return absl::UnavailableError("PostgreSQL connection is broken");
  std::string sql_z(sql);
  PgResult result(PQexec(conn_, sql_z.c_str()));
  return StatusFromResult(result.result_, sql);
}

int PgConnection::socket() const { return PQsocket(conn_); }

absl::Status PgConnection::ConsumeInput() {
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("lost the PostgreSQL connection: ", PQerrorMessage(conn_)));
  }
  return absl::OkStatus();
}

std::optional<std::pair<std::string, std::string>> PgConnection::NextNotification() {
  PGnotify* n = PQnotifies(conn_);
  if (n == nullptr) return std::nullopt;
  std::pair<std::string, std::string> out(n->relname, n->extra == nullptr ? "" : n->extra);
  PQfreemem(n);
  return out;
}

PgTransaction::~PgTransaction() {
  if (open_ && !conn_.broken()) (void)conn_.Execute("ROLLBACK");
}

absl::Status PgTransaction::Begin() {
  absl::Status s = conn_.Execute("BEGIN");
  open_ = s.ok();
  return s;
}

absl::Status PgTransaction::Commit() {
  absl::Status s = conn_.Execute("COMMIT");
  open_ = false;
  return s;
}

}  // namespace vecsync
