#include "src/replication/pgoutput.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vecsync::pgoutput {
namespace {

// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000;

// Reads big-endian fields off the front of a payload; the first read past its end sets an
// error, and every later read returns zeros.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : rest_(bytes) {}

  uint8_t Byte() { return static_cast<uint8_t>(Take(1)[0]); }
  uint16_t Int16() { return static_cast<uint16_t>(BigEndian(2)); }
  uint32_t Int32() { return static_cast<uint32_t>(BigEndian(4)); }
  uint64_t Int64() { return BigEndian(8); }
  // A NUL-terminated string.
  std::string String() {
    const size_t end = rest_.find('\0');
    if (end == absl::string_view::npos) {
      Fail("a string without its terminating NUL");
      return "";
    }
    std::string s(rest_.substr(0, end));
    rest_.remove_prefix(end + 1);
    return s;
  }
  std::string Bytes(size_t n) { return std::string(Take(n)); }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void Fail(absl::string_view what) {
    if (error_.empty()) error_ = std::string(what);
  }

 private:
  absl::string_view Take(size_t n) {
    static constexpr char kZeros[8] = {};
    if (!ok() || rest_.size() < n) {
      Fail("cut short");
      return absl::string_view(kZeros, n <= sizeof(kZeros) ? n : 0);
    }
    absl::string_view taken = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return taken;
  }
  uint64_t BigEndian(size_t n) {
    const absl::string_view b = Take(n);
    uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
    return v;
  }

  absl::string_view rest_;
  std::string error_;
};

int64_t UnixMicros(uint64_t postgres_micros) {
  return static_cast<int64_t>(postgres_micros) + kPostgresEpochUnixMicros;
}

Tuple ReadTuple(Reader& r) {
  const uint16_t n = r.Int16();
  Tuple tuple;
  for (uint16_t i = 0; i < n && r.ok(); ++i) {
    Value& v = tuple.emplace_back();
    switch (r.Byte()) {
      case 'n':
        v.kind = Value::Kind::kNull;
        break;
      case 'u':
        v.kind = Value::Kind::kUnchangedToast;
        break;
      case 't':
        v.kind = Value::Kind::kText;
        v.text = r.Bytes(r.Int32());
        break;
      default:
        r.Fail("a column value of an unknown kind");
    }
  }
  return tuple;
}

Message ReadRelation(Reader& r) {
  Relation rel;
  rel.id = r.Int32();
  rel.schema = r.String();
  rel.name = r.String();
  r.Byte();  // Replica identity setting.
  const uint16_t n = r.Int16();
  for (uint16_t i = 0; i < n && r.ok(); ++i) {
    Column& c = rel.columns.emplace_back();
    c.key = (r.Byte() & 1) != 0;
    c.name = r.String();
    c.type_oid = r.Int32();
    r.Int32();  // Type modifier.
  }
  return rel;
}

Message ReadRowChange(Reader& r, char tag) {
  RowChange change;
  change.relation_id = r.Int32();
  switch (tag) {
    case 'I':
      change.kind = RowChange::Kind::kInsert;
      if (r.Byte() != 'N') r.Fail("an insert without its new tuple");
      change.new_tuple = ReadTuple(r);
      break;
    case 'U': {
      change.kind = RowChange::Kind::kUpdate;
      uint8_t part = r.Byte();
      if (part == 'K' || part == 'O') {
        change.old_tuple = ReadTuple(r);
        part = r.Byte();
      }
      if (part != 'N') r.Fail("an update without its new tuple");
      change.new_tuple = ReadTuple(r);
      break;
    }
    default: {  // 'D'
      change.kind = RowChange::Kind::kDelete;
      const uint8_t part = r.Byte();
      if (part != 'K' && part != 'O') r.Fail("a delete without its old key");
      change.old_tuple = ReadTuple(r);
    }
  }
  return change;
}

}  // namespace

std::string FormatLsn(Lsn lsn) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

absl::StatusOr<Lsn> ParseLsn(absl::string_view text) {
  unsigned int hi = 0, lo = 0;
  char rest = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%X/%X%c", &hi, &lo, &rest) != 2) {
    return absl::InvalidArgumentError(absl::StrCat("not an LSN: \"", text, "\""));
  }
  return (static_cast<Lsn>(hi) << 32) | lo;
}

absl::StatusOr<Message> Decode(absl::string_view payload) {
  if (payload.empty()) return absl::InvalidArgumentError("pgoutput: an empty message");
  Reader r(payload.substr(1));
  const char tag = payload[0];
  Message message;
  switch (tag) {
    case 'B': {
      Begin b;
      b.final_lsn = r.Int64();
      b.commit_time_us = UnixMicros(r.Int64());
      b.xid = r.Int32();
      message = b;
      break;
    }
    case 'C': {
      Commit c;
      r.Byte();  // Flags (unused).
      c.commit_lsn = r.Int64();
      c.end_lsn = r.Int64();
      c.commit_time_us = UnixMicros(r.Int64());
      message = c;
      break;
    }
    case 'R':
      message = ReadRelation(r);
      break;
    case 'I':
    case 'U':
    case 'D':
      message = ReadRowChange(r, tag);
      break;
    case 'T': {
      Truncate t;
      const uint32_t n = r.Int32();
      r.Byte();  // Options (CASCADE, RESTART IDENTITY).
      for (uint32_t i = 0; i < n && r.ok(); ++i) t.relation_ids.push_back(r.Int32());
      message = t;
      break;
    }
    default:
      message = Ignored{tag};
  }
  if (!r.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pgoutput: a '", std::string(1, tag), "' message ", r.error()));
  }
  return message;
}

}  // namespace vecsync::pgoutput
