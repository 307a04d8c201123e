#include "workflows/sync/keep_alive.h"

#include <utility>

namespace vecsync::workflows {

KeepAlive::KeepAlive(engine::ActivityContext& ctx, absl::Duration interval, Json details,
                     std::function<void()> also)
    : thread_([this, &ctx, interval, details = std::move(details), also = std::move(also)] {
        while (!done_.WaitForNotificationWithTimeout(interval)) {
          if (ctx.Heartbeat(details).ok() && also) also();
        }
      }) {}

KeepAlive::~KeepAlive() {
  done_.Notify();
  thread_.join();
}

}  // namespace vecsync::workflows
