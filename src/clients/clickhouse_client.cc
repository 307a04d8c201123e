#include "src/clients/clickhouse_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/common/status_macros.h"

namespace vecsync::clients {
namespace {

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// What a finished request means: its curl code, HTTP status and body.
absl::Status StatusOfRequest(CURL* curl, CURLcode rc, const std::string& response) {
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("ClickHouse request failed: ", curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 500) {
    return absl::UnavailableError(absl::StrCat("ClickHouse answered ", status, ": ",
                                               absl::string_view(response).substr(0, 500)));
  }
  if (status >= 400) {
    return absl::InvalidArgumentError(absl::StrCat("ClickHouse rejected the query (", status, "): ",
                                                   absl::string_view(response).substr(0, 500)));
  }
  return absl::OkStatus();
}

// The options every request sets.
void SetCommonOptions(CURL* curl, const std::string& url, std::string* response) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 300000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
}

std::string UrlEncode(CURL* curl, const std::string& s) {
  char* escaped = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

}  // namespace

void RowBinaryWriter::VarUInt(uint64_t v) {
  while (v >= 0x80) {
    data_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  data_.push_back(static_cast<char>(v));
}

void RowBinaryWriter::String(absl::string_view s) {
  VarUInt(s.size());
  data_.append(s.data(), s.size());
}

void RowBinaryWriter::Float32Array(absl::string_view bytes) {
  VarUInt(bytes.size() / sizeof(float));
  Append(bytes.data(), bytes.size() - bytes.size() % sizeof(float));
}

absl::StatusOr<absl::string_view> RowBinaryReader::Take(size_t n) {
  if (n > data_.size()) {
    return absl::DataLossError(absl::StrCat("RowBinary ends after ", data_.size(), " bytes where ",
                                            n, " more were expected"));
  }
  absl::string_view out = data_.substr(0, n);
  data_.remove_prefix(n);
  return out;
}

absl::StatusOr<uint64_t> RowBinaryReader::VarUInt() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    ASSIGN_OR_RETURN(absl::string_view byte, Take(1));
    const auto b = static_cast<unsigned char>(byte[0]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return absl::DataLossError("RowBinary length prefix longer than 10 bytes");
}

absl::StatusOr<uint8_t> RowBinaryReader::UInt8() {
  ASSIGN_OR_RETURN(absl::string_view b, Take(1));
  return static_cast<uint8_t>(b[0]);
}

absl::StatusOr<int64_t> RowBinaryReader::Int64() {
  ASSIGN_OR_RETURN(absl::string_view b, Take(sizeof(int64_t)));
  int64_t v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

absl::StatusOr<absl::string_view> RowBinaryReader::String() {
  ASSIGN_OR_RETURN(uint64_t n, VarUInt());
  return Take(n);
}

absl::StatusOr<absl::string_view> RowBinaryReader::Float32Array() {
  ASSIGN_OR_RETURN(uint64_t n, VarUInt());
  if (n > data_.size() / sizeof(float)) {
    return absl::DataLossError(absl::StrCat("RowBinary array of ", n, " floats overruns the body"));
  }
  return Take(n * sizeof(float));
}

std::string ClickHouseQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

absl::StatusOr<std::unique_ptr<ClickHouseClient>> ClickHouseClient::Create(const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClickHouse URL must start with http:// or https:// (set VECSYNC_CLICKHOUSE_URL), got '",
        url, "'"));
  }
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) return absl::InternalError("curl_global_init failed");
  std::string base = url;
  if (base.find('?') == std::string::npos)
    base += "/?";
  else
    base += "&";
  return std::unique_ptr<ClickHouseClient>(new ClickHouseClient(base));
}

ClickHouseClient::ClickHouseClient(std::string base_url) : base_url_(std::move(base_url)) {}

ClickHouseClient::~ClickHouseClient() {
  MutexLock lock(&mu_);
  for (void* curl : idle_) curl_easy_cleanup(static_cast<CURL*>(curl));
}

void* ClickHouseClient::TakeConnection() {
  {
    MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* curl = idle_.back();
      idle_.pop_back();
      // The last request's options go; its live connection stays.
      curl_easy_reset(static_cast<CURL*>(curl));
      return curl;
    }
    ++opened_;
  }
  return curl_easy_init();
}

void ClickHouseClient::ReturnConnection(void* curl) {
  {
    MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) {
      idle_.push_back(curl);
      return;
    }
  }
  curl_easy_cleanup(static_cast<CURL*>(curl));
}

size_t ClickHouseClient::connections_opened() const {
  MutexLock lock(&mu_);
  return opened_;
}

absl::StatusOr<std::string> ClickHouseClient::Post(const std::string& query_param,
                                                   const std::string& body) {
  CURL* curl = static_cast<CURL*>(TakeConnection());
  if (curl == nullptr) return absl::ResourceExhaustedError("cannot open a ClickHouse connection");
  // The connection goes back however the call ends.
  struct Return {
    ClickHouseClient* client;
    CURL* curl;
    ~Return() { client->ReturnConnection(curl); }
  } give_back{this, curl};
  const std::string url =
      query_param.empty() ? base_url_ : base_url_ + "query=" + UrlEncode(curl, query_param);
  std::string response;
  SetCommonOptions(curl, url, &response);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  RETURN_IF_ERROR(StatusOfRequest(curl, curl_easy_perform(curl), response));
  return response;
}

absl::StatusOr<std::string> ClickHouseClient::Query(absl::string_view sql) {
  // In the body, where no URL length limit applies (a search's query vector is ~15 KB of SQL).
  return Post("", std::string(sql));
}

absl::Status ClickHouseClient::InsertRowBinary(absl::string_view target, const std::string& rows) {
  if (rows.empty()) return absl::OkStatus();
  return Post(absl::StrCat("INSERT INTO ", target, " FORMAT RowBinary"), rows).status();
}

absl::StatusOr<std::unique_ptr<ClickHouseInsert>> ClickHouseClient::StartInsert(
    absl::string_view target) {
  CURL* curl = static_cast<CURL*>(TakeConnection());
  if (curl == nullptr) return absl::ResourceExhaustedError("cannot open a ClickHouse connection");
  // The body may pause while its rows are made (a rate-limited provider): ClickHouse waits for
  // it as long as a flush may take, 6 hours, not its default 5 minutes.
  std::string url = base_url_ + "http_receive_timeout=21600&receive_timeout=21600&query=" +
                    UrlEncode(curl, absl::StrCat("INSERT INTO ", target, " FORMAT RowBinary"));
  return std::unique_ptr<ClickHouseInsert>(new ClickHouseInsert(this, curl, std::move(url)));
}

// ---- ClickHouseInsert -------------------------------------------------------------------------

struct ClickHouseInsert::Transfer {
  Mutex mu;
  std::deque<std::string> chunks ABSL_GUARDED_BY(mu);  // Written, not yet sent.
  size_t offset ABSL_GUARDED_BY(mu) = 0;               // Sent of the front chunk.
  size_t buffered ABSL_GUARDED_BY(mu) = 0;             // Bytes in `chunks` not yet sent.
  bool ended ABSL_GUARDED_BY(mu) = false;              // Finish(): nothing more comes.
  bool aborted ABSL_GUARDED_BY(mu) = false;            // Destroyed unfinished: fail the request.
  bool done ABSL_GUARDED_BY(mu) = false;               // The request is over; `status` says how.
  absl::Status status ABSL_GUARDED_BY(mu);
  // The watchdog's clock: when bytes last went out (or rows came to send after a pause), and
  // when the body ended.
  absl::Time last_progress ABSL_GUARDED_BY(mu) = absl::Now();
  int64_t sent ABSL_GUARDED_BY(mu) = 0;
  absl::Time ended_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  std::string response;  // Written by the sending thread only.

  // How long rows may wait to be sent, or the complete body for its answer, before the
  // connection is taken for dead. (Waiting for rows to be made has no limit.)
  static constexpr absl::Duration kStall = absl::Minutes(5);

  // curl's XFERINFOFUNCTION, about once a second while it waits on the network: non-zero ends
  // the request (an abandoned insert, or a dead connection).
  static int Progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
    auto* t = static_cast<Transfer*>(self);
    MutexLock lock(&t->mu);
    if (t->aborted) return 1;
    const absl::Time now = absl::Now();
    if (uploaded > t->sent) {
      t->sent = uploaded;
      t->last_progress = now;
    }
    if (t->buffered > 0 && now - t->last_progress > kStall) return 1;
    return t->ended && now - t->ended_at > kStall ? 1 : 0;
  }

  // curl's READFUNCTION: the next bytes of the body, 0 at its end, or an abort.
  static size_t Read(char* out, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    MutexLock lock(&t->mu);
    t->mu.Await(Condition(
        +[](Transfer* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu) {
          return !t->chunks.empty() || t->ended || t->aborted;
        },
        t));
    if (t->aborted) return CURL_READFUNC_ABORT;
    if (t->chunks.empty()) return 0;  // Ended: the body is complete.
    const std::string& front = t->chunks.front();
    const size_t take = std::min(size * n, front.size() - t->offset);
    std::memcpy(out, front.data() + t->offset, take);
    t->offset += take;
    t->buffered -= take;
    if (t->offset == front.size()) {
      t->chunks.pop_front();
      t->offset = 0;
    }
    return take;
  }
};

ClickHouseInsert::ClickHouseInsert(ClickHouseClient* client, void* curl, std::string url)
    : client_(client),
      curl_(curl),
      url_(std::move(url)),
      transfer_(std::make_unique<Transfer>()),
      sender_([this] { Send(); }) {}

void ClickHouseInsert::Send() {
  CURL* curl = static_cast<CURL*>(curl_);
  SetCommonOptions(curl, url_, &transfer_->response);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, &Transfer::Read);
  curl_easy_setopt(curl, CURLOPT_READDATA, transfer_.get());
  // Chunked: the body's size is known only at its end. No "Expect: 100-continue" round trip.
  curl_slist* headers = curl_slist_append(nullptr, "Transfer-Encoding: chunked");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  // No overall timeout: the body takes as long as its rows take to make. The watchdog ends a
  // request whose connection stalls instead, and TCP keepalive notices a peer that is gone.
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 0L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Transfer::Progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, transfer_.get());
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  const CURLcode rc = curl_easy_perform(curl);
  absl::Status status = StatusOfRequest(curl, rc, transfer_->response);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  MutexLock lock(&transfer_->mu);
  transfer_->status = std::move(status);
  transfer_->done = true;
}

absl::Status ClickHouseInsert::Write(std::string rows) {
  if (rows.empty()) return absl::OkStatus();
  Transfer& t = *transfer_;
  MutexLock lock(&t.mu);
  t.mu.Await(Condition(
      +[](Transfer* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu) {
        return t->done || t->buffered < kMaxBufferedBytes;
      },
      &t));
  if (t.done) {
    return t.status.ok() ? absl::InternalError("ClickHouse ended the insert before its body did")
                         : t.status;
  }
  bytes_written_ += rows.size();
  if (t.buffered == 0) t.last_progress = absl::Now();  // Nothing waited: the pause was ours.
  t.buffered += rows.size();
  t.chunks.push_back(std::move(rows));
  return absl::OkStatus();
}

absl::Status ClickHouseInsert::Finish() {
  {
    MutexLock lock(&transfer_->mu);
    transfer_->ended = true;
    transfer_->ended_at = absl::Now();
  }
  sender_.join();
  finished_ = true;
  MutexLock lock(&transfer_->mu);
  return transfer_->status;
}

ClickHouseInsert::~ClickHouseInsert() {
  if (!finished_) {
    {
      MutexLock lock(&transfer_->mu);
      transfer_->aborted = true;
    }
    sender_.join();
  }
  client_->ReturnConnection(curl_);
}

absl::StatusOr<ClickHouseVersion> ClickHouseClient::Version() {
  ASSIGN_OR_RETURN(std::string text, Query("SELECT version()"));
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  ClickHouseVersion v;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &v.major) ||
      !absl::SimpleAtoi(parts[1], &v.minor)) {
    return absl::InternalError(absl::StrCat("cannot parse ClickHouse version '", text, "'"));
  }
  return v;
}

}  // namespace vecsync::clients
