// A thin, status-returning layer over libpq: one connection, its results, and its parameters.
//
// Example:
//   ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(url));
//   ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT $1::int + 1", 41));
//   int64_t answer = r.GetInt64(0, 0);  // 42
//
// Error codes: a connection that is down, or drops during a call, is UNAVAILABLE (the caller may
// retry on a new connection); serialization failures and deadlocks are ABORTED; a unique
// violation is ALREADY_EXISTS; any other server error is INTERNAL with the server's message.
// The SQLSTATE is attached to the status as the payload kPgSqlStatePayload.
//
// Thread-compatibility: a PgConnection is used by one thread at a time.
#ifndef VECSYNC_COMMON_PG_H_
#define VECSYNC_COMMON_PG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

struct pg_conn;
struct pg_result;

namespace vecsync {

inline constexpr char kPgSqlStatePayload[] = "type.vecsync/pg_sqlstate";

// Returns the SQLSTATE attached to `status`, or "" when it did not come from the server.
std::string PgSqlState(const absl::Status& status);

// A query result. Owns the libpq result. Values arrive as text, or in PostgreSQL's binary format
// from PgConnection::QueryBinary; the typed getters read integers, booleans and floating point in
// either format, and Get returns text (and, in the binary format, bytea) as is.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result);
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  int columns() const;
  // Rows affected by an INSERT/UPDATE/DELETE.
  int64_t affected_rows() const;

  bool IsNull(int row, int column) const;
  // The value as sent: text, or in a binary result the type's binary form (raw bytes for bytea
  // and text); "" for NULL.
  absl::string_view Get(int row, int column) const;
  std::string GetString(int row, int column) const { return std::string(Get(row, column)); }
  // Returns `fallback` for NULL.
  int64_t GetInt64(int row, int column, int64_t fallback = 0) const;
  double GetDouble(int row, int column, double fallback = 0) const;
  // PostgreSQL booleans are 't' / 'f' as text, one byte in binary.
  bool GetBool(int row, int column) const;
  std::optional<std::string> GetOptional(int row, int column) const;
  // A json/jsonb value; null for SQL NULL or text that does not parse.
  nlohmann::json GetJson(int row, int column) const;

 private:
  friend class PgConnection;
  bool IsBinary(int column) const;
  pg_result* result_ = nullptr;
};

// A parameter ($1, $2, …): text, SQL NULL, or a value in PostgreSQL's binary format (see
// PgBinaryArray), which spares both sides the text encoding of large values.
class PgParam {
 public:
  PgParam(std::nullopt_t) {}                              // NOLINT: implicit by design
  PgParam(std::string text) : value_(std::move(text)) {}  // NOLINT
  PgParam(std::optional<std::string> text) : value_(std::move(text)) {}  // NOLINT
  // `bytes` in the binary format of the type the statement gives the parameter.
  static PgParam Binary(std::string bytes) {
    PgParam p(std::move(bytes));
    p.binary_ = true;
    return p;
  }

  bool is_null() const { return !value_.has_value(); }
  bool binary() const { return binary_; }
  // The text or bytes; "" for NULL.
  const std::string& value() const { return value_ ? *value_ : Empty(); }

 private:
  static const std::string& Empty() {
    static const std::string* empty = new std::string;
    return *empty;
  }
  std::optional<std::string> value_;
  bool binary_ = false;
};

inline PgParam ToPgParam(absl::string_view v) { return std::string(v); }
inline PgParam ToPgParam(const std::string& v) { return v; }
inline PgParam ToPgParam(const char* v) { return std::string(v); }
inline PgParam ToPgParam(std::optional<std::string> v) { return v; }
inline PgParam ToPgParam(bool v) { return std::string(v ? "true" : "false"); }
inline PgParam ToPgParam(std::nullopt_t) { return std::nullopt; }
inline PgParam ToPgParam(PgParam v) { return v; }
template <typename Int>
requires std::is_integral_v<Int> PgParam ToPgParam(Int v) { return std::to_string(v); }
inline PgParam ToPgParam(double v) { return std::to_string(v); }

// Formats `elements` as a PostgreSQL array literal ('{"a","b"}'), quoting every element;
// nullopt is a NULL element.
std::string PgArrayLiteral(const std::vector<std::string>& elements);
std::string PgArrayLiteral(const std::vector<std::optional<std::string>>& elements);
std::string PgArrayLiteral(const std::vector<int64_t>& elements);

// A one-dimensional array parameter in the binary format, built element by element: text and
// bytea elements travel as raw bytes (no quoting here, no parsing by the server's array_in),
// bigints as 8 bytes. Large arrays cost both sides a fraction of their text form. The statement
// must give the type, e.g. `unnest($1::text[])`.
//
//   PgBinaryArray ids = PgBinaryArray::Text();
//   for (const Row& r : rows) ids.Add(r.id);
//   conn.Query("... unnest($1::text[]) ...", std::move(ids).Build());
class PgBinaryArray {
 public:
  static PgBinaryArray Text() { return PgBinaryArray(kTextOid); }
  static PgBinaryArray Bytea() { return PgBinaryArray(kByteaOid); }
  static PgBinaryArray Int64() { return PgBinaryArray(kInt8Oid); }

  // For text and bytea arrays.
  void Add(absl::string_view bytes);
  // For bigint arrays.
  void Add(int64_t value);
  void AddNull();
  PgParam Build() &&;

 private:
  static constexpr uint32_t kByteaOid = 17, kInt8Oid = 20, kTextOid = 25;
  static constexpr size_t kHeaderRoom = 20;  // The header of a non-empty array.
  explicit PgBinaryArray(uint32_t element_oid)
      : element_oid_(element_oid), body_(kHeaderRoom, '\0') {}

  uint32_t element_oid_;
  // The header's room, then each element: its length (4 bytes, -1 for NULL), then its bytes.
  std::string body_;
  uint32_t count_ = 0;
  bool has_null_ = false;
};

// How a connection plans its prepared statements.
enum class PlanCache {
  // Planned for their parameters at every execution (prepared statements still save the
  // parsing). For statements over tables that grow fast within a run: a generic plan made while
  // a table was small keeps scanning it whole after it grew, until the next ANALYZE.
  kCustomPlans,
  // PostgreSQL's default: a generic plan once it costs no more than the custom ones. For
  // statements whose every plan is a key lookup, where planning would cost more than running.
  kGenericPlans,
};

class PgConnection {
 public:
  // Connects to `url` (a libpq connection URI or key=value string). UNAVAILABLE when the server
  // cannot be reached. The session time zone is UTC.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
      const std::string& url, PlanCache plans = PlanCache::kCustomPlans);

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  enum class ResultFormat { kText, kBinary };

  // Runs one statement with parameters (extended protocol); result columns come in `format`.
  // A statement text run a second time on this connection is prepared, and from then on only
  // executed: PostgreSQL parses it once, and plans it as the connection's PlanCache says. At most
  // kMaxPreparedStatements are kept. When DDL changes what a prepared statement returns, it is
  // forgotten: outside a transaction it runs again at once, unprepared; inside one the error is
  // returned (the transaction is aborted anyway) and the caller's retry prepares it afresh.
  absl::StatusOr<PgResult> QueryParams(absl::string_view sql, const std::vector<PgParam>& params,
                                       ResultFormat format = ResultFormat::kText);

  template <typename... Args>
  absl::StatusOr<PgResult> Query(absl::string_view sql, Args&&... args) {
    return QueryParams(sql, {ToPgParam(std::forward<Args>(args))...});
  }

  // Like Query, with every result column in the binary format: bytea arrives as raw bytes rather
  // than twice its size in hex. Cast columns the getters cannot read (json, timestamps) to text.
  template <typename... Args>
  absl::StatusOr<PgResult> QueryBinary(absl::string_view sql, Args&&... args) {
    return QueryParams(sql, {ToPgParam(std::forward<Args>(args))...}, ResultFormat::kBinary);
  }

  // Runs one statement and hands each result row to `row` as it arrives (libpq's single-row
  // mode), so a large result is never held whole: `row` sees a one-row PgResult, valid during
  // the call. An error `row` returns stops the calls and is returned once the rest is drained.
  absl::Status QueryRows(absl::string_view sql, const std::vector<PgParam>& params,
                         ResultFormat format, absl::FunctionRef<absl::Status(const PgResult&)> row);

  // Runs one or more statements without parameters (simple protocol).
  absl::Status Execute(absl::string_view sql);

  // True once the connection failed; a pool drops such connections.
  bool broken() const;

  // Socket and notification access for LISTEN loops.
  int socket() const;
  // Reads pending input; returns UNAVAILABLE when the connection dropped.
  absl::Status ConsumeInput();
  // Pops one notification received so far: (channel, payload).
  std::optional<std::pair<std::string, std::string>> NextNotification();

 private:
  explicit PgConnection(pg_conn* conn);
  absl::Status StatusFromResult(pg_result* result, absl::string_view sql);
  // The name `sql` is prepared under on this connection, preparing it on its second use; ""
  // to run it unnamed.
  absl::StatusOr<std::string> PreparedName(const std::string& sql, int params);
  void ForgetPrepared();
  // True, after forgetting the statement, when `status` says DDL changed its result type.
  bool ForgetIfResultTypeChanged(const absl::Status& status, const std::string& sql);

  static constexpr size_t kMaxPreparedStatements = 256;

  pg_conn* conn_;
  bool broken_ = false;
  absl::flat_hash_map<std::string, std::string> prepared_;  // SQL text → statement name
  absl::flat_hash_set<std::string> seen_once_;
  int64_t next_statement_ = 0;
};

// Runs a transaction: BEGIN on construction, ROLLBACK on destruction unless Commit() succeeded.
//
// Example:
//   PgTransaction txn(conn);
//   RETURN_IF_ERROR(txn.Begin());
//   ... conn.Query(...) ...
//   RETURN_IF_ERROR(txn.Commit());
class PgTransaction {
 public:
  explicit PgTransaction(PgConnection& conn) : conn_(conn) {}
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  absl::Status Begin();
  absl::Status Commit();

 private:
  PgConnection& conn_;
  bool open_ = false;
};

}  // namespace vecsync

#endif  // VECSYNC_COMMON_PG_H_
