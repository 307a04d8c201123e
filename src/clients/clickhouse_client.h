// A ClickHouse client over its HTTP interface (port 8123 by default): queries as text and
// RowBinary inserts. Works with ClickHouse 18.16 (Debian) and current releases.
//
// Example:
//   ASSIGN_OR_RETURN(auto ch, ClickHouseClient::Create("http://127.0.0.1:8123"));
//   ASSIGN_OR_RETURN(std::string tsv, ch->Query("SELECT count() FROM pg_embeddings"));
//   RowBinaryWriter rows;
//   rows.String("action"); rows.Int64(2); ...
//   RETURN_IF_ERROR(ch->InsertRowBinary("pg_embeddings (domain, team_id, ...)", rows.data()));
//
// Errors: UNAVAILABLE when the server cannot be reached or answers 5xx (retry), INVALID_ARGUMENT
// for a rejected query (4xx, the server's message included).
//
// Thread-safe: calls run concurrently, each on a keep-alive connection of its own taken from a
// pool (a search is answered while an insert runs, and two inserts run at once). A connection
// goes back to the pool when its call ends; the pool keeps up to kMaxIdleConnections.
#ifndef VECSYNC_CLIENTS_CLICKHOUSE_CLIENT_H_
#define VECSYNC_CLIENTS_CLICKHOUSE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/mutex.h"

namespace vecsync::clients {

// Builds the RowBinary encoding of rows: little-endian numbers, LEB128-prefixed strings and
// arrays, one row's columns after another, in the insert's column order.
class RowBinaryWriter {
 public:
  void UInt8(uint8_t v) { Append(&v, 1); }
  void UInt32(uint32_t v) { Append(&v, 4); }
  void UInt64(uint64_t v) { Append(&v, 8); }
  void Int64(int64_t v) { Append(&v, 8); }
  // DateTime is seconds since the epoch as UInt32; DateTime64(6) is microseconds as Int64.
  void DateTime(uint32_t seconds) { UInt32(seconds); }
  void String(absl::string_view s);
  // An Array(Float32) from its little-endian float32 bytes (as vecsync stores vectors).
  void Float32Array(absl::string_view bytes);

  // Makes room for `bytes` more without reallocating: large inserts are built in one buffer.
  void Reserve(size_t bytes) { data_.reserve(data_.size() + bytes); }
  const std::string& data() const { return data_; }
  size_t size() const { return data_.size(); }
  void Clear() { data_.clear(); }
  // Hands over the encoding; the writer is empty afterwards.
  std::string Release() { return std::exchange(data_, std::string()); }

 private:
  void VarUInt(uint64_t v);
  void Append(const void* p, size_t n) { data_.append(static_cast<const char*>(p), n); }
  std::string data_;
};

// Reads the RowBinary encoding, the writer's counterpart. Every read checks the bounds: a
// truncated or malformed body is DATA_LOSS, never a read past the end.
class RowBinaryReader {
 public:
  explicit RowBinaryReader(absl::string_view data) : data_(data) {}
  bool done() const { return data_.empty(); }
  absl::StatusOr<uint8_t> UInt8();
  // Int64, or UInt64's bits.
  absl::StatusOr<int64_t> Int64();
  absl::StatusOr<absl::string_view> String();
  // An Array(Float32), as its little-endian float32 bytes.
  absl::StatusOr<absl::string_view> Float32Array();

 private:
  absl::StatusOr<uint64_t> VarUInt();
  absl::StatusOr<absl::string_view> Take(size_t n);
  absl::string_view data_;
};

// `s` as a ClickHouse string literal, quoted and escaped.
std::string ClickHouseQuote(absl::string_view s);

struct ClickHouseVersion {
  int major = 0;
  int minor = 0;
  // DateTime64, ReplacingMergeTree's is_deleted argument and cosineDistance are missing on
  // older servers (18.16 has none of them).
  bool has_datetime64() const { return major > 20 || (major == 20 && minor >= 1); }
};

class ClickHouseClient;

// An insert whose body goes to ClickHouse while it is being made: rows written are sent in
// chunks (HTTP chunked transfer) from a thread of the insert's own, so a large insert is never
// held whole in memory, and sending overlaps making the rest.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<ClickHouseInsert> insert, ch->StartInsert("t (a, b)"));
//   while (...) RETURN_IF_ERROR(insert->Write(rows.Release()));   // RowBinary
//   RETURN_IF_ERROR(insert->Finish());
//
// The body may pause for as long as its rows take to make (up to 6 hours, a flush's limit): the
// request has no overall timeout, and ClickHouse is told to wait for the body that long. A
// connection that stalls is another matter: rows waiting 5 minutes to be sent, or a complete
// body 5 minutes for its answer, end the insert with UNAVAILABLE.
//
// An insert destroyed before Finish() is aborted: ClickHouse answers with an error and stores
// none of it (an insert of up to max_insert_block_size rows, 1,048,576 by default, is one block
// that is written once whole, or not at all). Thread-compatible: one thread writes.
class ClickHouseInsert {
 public:
  // How much written data may wait to be sent before Write() blocks.
  static constexpr size_t kMaxBufferedBytes = 8 << 20;

  ClickHouseInsert(const ClickHouseInsert&) = delete;
  ClickHouseInsert& operator=(const ClickHouseInsert&) = delete;
  ~ClickHouseInsert();

  // Queues `rows` (RowBinary) to be sent. Blocks while kMaxBufferedBytes wait. Returns the
  // insert's error, without queueing, once ClickHouse has refused it or the connection failed.
  absl::Status Write(std::string rows);

  // Ends the body and waits for ClickHouse's answer: OK once the rows are stored. Errors as
  // the client's (UNAVAILABLE to retry, INVALID_ARGUMENT for a refused insert).
  absl::Status Finish();

  // Bytes written so far.
  size_t bytes_written() const { return bytes_written_; }

 private:
  friend class ClickHouseClient;
  struct Transfer;  // What the sending thread shares with the writer.
  ClickHouseInsert(ClickHouseClient* client, void* curl, std::string url);
  // Runs the transfer on the sending thread.
  void Send();

  ClickHouseClient* const client_;
  void* const curl_;
  const std::string url_;
  std::unique_ptr<Transfer> transfer_;
  size_t bytes_written_ = 0;
  bool finished_ = false;
  std::thread sender_;  // Last: it uses the members above.
};

class ClickHouseClient {
 public:
  // Idle connections kept for reuse; more are opened while more calls run at once.
  static constexpr size_t kMaxIdleConnections = 8;

  // `url` is http://[user[:password]@]host:port; the database may be given as ?database=name.
  static absl::StatusOr<std::unique_ptr<ClickHouseClient>> Create(const std::string& url);
  ~ClickHouseClient();
  ClickHouseClient(const ClickHouseClient&) = delete;
  ClickHouseClient& operator=(const ClickHouseClient&) = delete;

  // Runs `sql` and returns the response body (TabSeparated unless the query says FORMAT).
  absl::StatusOr<std::string> Query(absl::string_view sql);
  absl::Status Execute(absl::string_view sql) { return Query(sql).status(); }

  // Inserts RowBinary-encoded rows: `target` is "table (col1, col2, …)".
  absl::Status InsertRowBinary(absl::string_view target, const std::string& rows);

  // Starts an insert of RowBinary rows into `target` whose body is written as it is made
  // (ClickHouseInsert). The client must outlive it.
  absl::StatusOr<std::unique_ptr<ClickHouseInsert>> StartInsert(absl::string_view target);

  absl::StatusOr<ClickHouseVersion> Version();

  // Connections opened so far (for tests).
  size_t connections_opened() const;

 private:
  friend class ClickHouseInsert;
  explicit ClickHouseClient(std::string base_url);
  // POSTs `body`; `query_param`, when not empty, is the statement the body is data for.
  absl::StatusOr<std::string> Post(const std::string& query_param, const std::string& body);
  // An idle connection (a CURL easy handle), or a new one.
  void* TakeConnection();
  // Hands `curl` back for reuse, or closes it when enough are idle.
  void ReturnConnection(void* curl);

  const std::string base_url_;
  mutable Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);
  size_t opened_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_CLICKHOUSE_CLIENT_H_
