#include "src/common/pg_pool.h"

namespace vecsync {

PgPool::PgPool(std::string url, int max_size, PlanCache plans)
    : url_(std::move(url)), max_size_(max_size), plans_(plans) {}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    MutexLock lock(&mu_);
    mu_.Await(Condition(
        +[](PgPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return !p->idle_.empty() || p->open_ < p->max_size_;
        },
        this));
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // Reserve a slot; connect outside the lock.
  }
  absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(url_, plans_);
  if (!conn.ok()) {
    MutexLock lock(&mu_);
    --open_;
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  MutexLock lock(&mu_);
  if (conn->broken()) {
    --open_;
    return;  // Closed as it goes out of scope; a later Acquire() reconnects.
  }
  idle_.push_back(std::move(conn));
}

}  // namespace vecsync
