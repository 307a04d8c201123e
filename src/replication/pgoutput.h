// Decoding of PostgreSQL's built-in logical decoding output plugin, pgoutput (protocol version
// 1): the messages a logical replication slot streams for a publication, one per CopyData
// payload of an XLogData message. Only what vecsync reads is kept: transactions (begin and
// commit, with their LSNs and commit times), relations (a table's schema and columns, sent
// before its first change in a session and after every change of its schema), and row changes
// with their column values in text.
//
//   ASSIGN_OR_RETURN(pgoutput::Message m, pgoutput::Decode(payload));
//   if (auto* change = std::get_if<pgoutput::RowChange>(&m)) { … }
//
// Reference: "Logical Replication Message Formats" in PostgreSQL's documentation.
#ifndef VECSYNC_REPLICATION_PGOUTPUT_H_
#define VECSYNC_REPLICATION_PGOUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vecsync::pgoutput {

// A position in the write-ahead log.
using Lsn = uint64_t;

// "16/B374D848", as PostgreSQL writes an LSN.
std::string FormatLsn(Lsn lsn);
// INVALID_ARGUMENT for text that is not an LSN.
absl::StatusOr<Lsn> ParseLsn(absl::string_view text);

struct Begin {
  Lsn final_lsn = 0;           // The LSN of the transaction's commit record.
  int64_t commit_time_us = 0;  // Microseconds since the Unix epoch.
  uint32_t xid = 0;
};

struct Commit {
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;  // Just past the commit record: where a restart resumes after it.
  int64_t commit_time_us = 0;
};

struct Column {
  std::string name;
  uint32_t type_oid = 0;
  bool key = false;  // Part of the replica identity (the primary key, by default).
};

struct Relation {
  uint32_t id = 0;
  std::string schema, name;
  std::vector<Column> columns;
};

// A column's value in a tuple.
struct Value {
  enum class Kind { kNull, kUnchangedToast, kText };
  Kind kind = Kind::kNull;
  std::string text;
};
using Tuple = std::vector<Value>;

struct RowChange {
  enum class Kind { kInsert, kUpdate, kDelete };
  Kind kind = Kind::kInsert;
  uint32_t relation_id = 0;
  // Deletes, and updates that change the replica identity: the old row's key columns (or all
  // of it, with REPLICA IDENTITY FULL); the other columns are null.
  std::optional<Tuple> old_tuple;
  std::optional<Tuple> new_tuple;  // Inserts and updates.
};

struct Truncate {
  std::vector<uint32_t> relation_ids;
};

// Messages vecsync does not act on (types, origins, logical decoding messages).
struct Ignored {
  char tag = 0;
};

using Message = std::variant<Begin, Commit, Relation, RowChange, Truncate, Ignored>;

// INVALID_ARGUMENT, naming what is wrong, for a payload that is cut short or malformed.
absl::StatusOr<Message> Decode(absl::string_view payload);

}  // namespace vecsync::pgoutput

#endif  // VECSYNC_REPLICATION_PGOUTPUT_H_
