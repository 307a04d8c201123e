// A logical replication stream from a slot, over libpq's streaming replication protocol: what a
// walsender sends after START_REPLICATION (XLogData and keepalives), and the standby status
// updates that confirm how far the client has durably processed, so that the server may
// recycle the WAL before it and a restart resumes after it.
//
//   ASSIGN_OR_RETURN(auto stream, ReplicationStream::Start(url, "vecsync_db", "vecsync", 0));
//   ASSIGN_OR_RETURN(std::optional<ReplicationStream::Event> e, stream->Next(absl::Seconds(1)));
//   … decode e->data (pgoutput.h) …
//   RETURN_IF_ERROR(stream->Confirm(processed_up_to));
//
// Thread-compatible: one thread reads and confirms.
#ifndef VECSYNC_REPLICATION_REPLICATION_STREAM_H_
#define VECSYNC_REPLICATION_REPLICATION_STREAM_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/replication/pgoutput.h"

struct pg_conn;

namespace vecsync {

class ReplicationStream {
 public:
  struct Event {
    // XLogData carries one pgoutput message in `data`; a keepalive carries none.
    bool keepalive = false;
    pgoutput::Lsn wal_start = 0;   // XLogData: where the message starts.
    pgoutput::Lsn wal_end = 0;     // The server's WAL end when it sent the message.
    bool reply_requested = false;  // A keepalive that wants a status update at once.
    std::string data;
  };

  // Connects to `url` as a replication connection and streams `slot` from `start` (0: from the
  // slot's confirmed position) with pgoutput, protocol version 1, for `publication`.
  // UNAVAILABLE when the server cannot be reached or the slot is in use by another session;
  // FAILED_PRECONDITION when the server does not allow it (wal_level, permission), saying why.
  static absl::StatusOr<std::unique_ptr<ReplicationStream>> Start(const std::string& url,
                                                                  const std::string& slot,
                                                                  const std::string& publication,
                                                                  pgoutput::Lsn start);

  ReplicationStream(const ReplicationStream&) = delete;
  ReplicationStream& operator=(const ReplicationStream&) = delete;
  ~ReplicationStream();

  // The next message, waiting up to `timeout`; nullopt when none came. UNAVAILABLE when the
  // stream ended or the connection dropped.
  absl::StatusOr<std::optional<Event>> Next(absl::Duration timeout);

  // Reports everything before `processed` as durably processed (written, flushed and applied).
  absl::Status Confirm(pgoutput::Lsn processed);

 private:
  explicit ReplicationStream(pg_conn* conn) : conn_(conn) {}

  pg_conn* conn_;
};

}  // namespace vecsync

#endif  // VECSYNC_REPLICATION_REPLICATION_STREAM_H_
