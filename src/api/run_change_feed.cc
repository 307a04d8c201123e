#include "src/api/run_change_feed.h"

#include <poll.h>

#include "absl/strings/str_split.h"
#include "src/common/log.h"
#include "src/common/pg.h"

namespace vecsync::api {

RunChangeFeed::Subscription::~Subscription() {
  MutexLock lock(&feed_->mu_);
  auto it = feed_->subscribers_.find(run_id_);
  if (it == feed_->subscribers_.end()) return;
  it->second.erase(this);
  if (it->second.empty()) feed_->subscribers_.erase(it);
}

bool RunChangeFeed::Subscription::WaitForChange(absl::Duration timeout) {
  MutexLock lock(&feed_->mu_);
  auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return changed_ || feed_->stop_; };
  feed_->mu_.AwaitWithTimeout(Condition(&ready), timeout);
  const bool changed = changed_;
  changed_ = false;
  return changed;
}

RunChangeFeed::RunChangeFeed(std::string pg_url) : pg_url_(std::move(pg_url)) {}

RunChangeFeed::~RunChangeFeed() { Stop(); }

void RunChangeFeed::Start() {
  listener_ = std::thread([this] { ListenLoop(); });
}

void RunChangeFeed::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (listener_.joinable()) listener_.join();
}

std::unique_ptr<RunChangeFeed::Subscription> RunChangeFeed::Subscribe(const std::string& run_id) {
  std::unique_ptr<Subscription> sub(new Subscription(this, run_id));
  MutexLock lock(&mu_);
  subscribers_[run_id].insert(sub.get());
  return sub;
}

void RunChangeFeed::Signal(const std::string& run_id) {
  auto it = subscribers_.find(run_id);
  if (it == subscribers_.end()) return;
  for (Subscription* sub : it->second) {
    sub->feed_->mu_.AssertHeld();  // Its feed is this one: the caller holds the lock.
    sub->changed_ = true;
  }
}

void RunChangeFeed::SignalAll() {
  for (auto& [run_id, subs] : subscribers_) {
    for (Subscription* sub : subs) {
      sub->feed_->mu_.AssertHeld();  // Its feed is this one: the caller holds the lock.
      sub->changed_ = true;
    }
  }
}

void RunChangeFeed::ListenLoop() {
  std::unique_ptr<PgConnection> conn;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stop_) return;
    }
    if (conn == nullptr || conn->broken()) {
      absl::StatusOr<std::unique_ptr<PgConnection>> fresh = PgConnection::Connect(pg_url_);
      absl::Status s = fresh.status();
      if (s.ok())
        s = (*fresh)->Execute(
            "LISTEN vecsync_run; LISTEN vecsync_progress; "
            "LISTEN vecsync_step");
      if (!s.ok()) {
        LogWarning("watch feed cannot listen for notifications; watchers poll",
                   {{"error", s.ToString()}});
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      conn = std::move(*fresh);
      backoff = absl::Milliseconds(100);
      MutexLock lock(&mu_);
      SignalAll();
    }
    pollfd pfd{conn->socket(), POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    if (!conn->ConsumeInput().ok()) continue;
    MutexLock lock(&mu_);
    while (auto n = conn->NextNotification()) {
      // vecsync_step carries "<run_id> <owner>"; the others carry the run_id alone.
      std::vector<std::string> parts = absl::StrSplit(n->second, ' ');
      Signal(parts[0]);
    }
  }
}

}  // namespace vecsync::api
