// Heartbeats an activity from a thread of its own while the activity's thread waits on
// something slow (a rate-limited provider, a large insert): the attempt is not taken for a dead
// one however long the wait.
//
//   {
//     KeepAlive keep_alive(ctx, absl::Seconds(30), {{"stage", "summarizing"}});
//     summaries = summarizer.Summarize(prompt, inputs);   // may take minutes
//   }                                                     // the thread stops here
#ifndef VECSYNC_WORKFLOWS_SYNC_KEEP_ALIVE_H_
#define VECSYNC_WORKFLOWS_SYNC_KEEP_ALIVE_H_

#include <functional>
#include <thread>

#include "absl/time/time.h"
#include "src/common/json.h"
#include "src/common/mutex.h"
#include "src/engine/activity_context.h"

namespace vecsync::workflows {

class KeepAlive {
 public:
  // Heartbeats `ctx` with `details` every `interval` until destroyed; also calls `also`, when
  // given, after each heartbeat the engine accepts (to renew a lease of the activity's own: an
  // attempt that lost the activity, or whose cancellation was asked for, renews nothing).
  // `ctx` must outlive this object.
  KeepAlive(engine::ActivityContext& ctx, absl::Duration interval, Json details,
            std::function<void()> also = nullptr);
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;
  // Stops the thread and waits for it.
  ~KeepAlive();

 private:
  Notification done_;  // Before thread_: the thread waits on it.
  std::thread thread_;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_KEEP_ALIVE_H_
