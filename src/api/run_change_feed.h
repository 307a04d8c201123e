// Tells watchers when a run may have changed. One LISTEN connection receives the engine's
// notifications (vecsync_run: status; vecsync_progress: progress document; vecsync_step: an
// activity scheduled, started or closed) and wakes the subscriptions for that run. After a
// reconnect every subscription is woken, since notifications may have been missed.
//
// A wake-up is a hint, not a report: callers re-read the run and decide what changed, and
// should also re-read after a timeout in case the database connection is down.
//
// Example:
//   RunChangeFeed feed(pg_url);
//   feed.Start();
//   auto sub = feed.Subscribe(run_id);
//   while (...) { Describe...; sub->WaitForChange(absl::Seconds(1)); }
//
// Thread-safe.
#ifndef VECSYNC_API_RUN_CHANGE_FEED_H_
#define VECSYNC_API_RUN_CHANGE_FEED_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"

namespace vecsync::api {

class RunChangeFeed {
 public:
  class Subscription {
   public:
    ~Subscription();
    // Returns true as soon as a change was signalled since the previous call (or since the
    // subscription began), false after `timeout` or when the feed stops.
    bool WaitForChange(absl::Duration timeout);

   private:
    friend class RunChangeFeed;
    Subscription(RunChangeFeed* feed, std::string run_id) : feed_(feed), run_id_(run_id) {}
    RunChangeFeed* const feed_;
    const std::string run_id_;
    bool changed_ ABSL_GUARDED_BY(feed_->mu_) = false;
  };

  explicit RunChangeFeed(std::string pg_url);
  ~RunChangeFeed();  // Stops the listener; subscriptions must be gone by then.

  void Start();
  void Stop();

  std::unique_ptr<Subscription> Subscribe(const std::string& run_id);

 private:
  void ListenLoop();
  void Signal(const std::string& run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SignalAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string pg_url_;
  Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::set<Subscription*>> subscribers_ ABSL_GUARDED_BY(mu_);
  std::thread listener_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_RUN_CHANGE_FEED_H_
