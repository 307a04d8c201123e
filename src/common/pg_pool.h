// A bounded pool of PostgreSQL connections shared by a process's threads.
//
// Connections are opened lazily, up to `max_size`; Acquire() blocks while all are in use. A
// connection that broke while borrowed is closed when returned, and the next Acquire() opens a
// fresh one, which is how a lost database connection is re-established.
//
// Example:
//   PgPool pool(url, 8);
//   ASSIGN_OR_RETURN(PgPool::Lease conn, pool.Acquire());
//   ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT 1"));
//
// Thread-safe.
#ifndef VECSYNC_COMMON_PG_POOL_H_
#define VECSYNC_COMMON_PG_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "src/common/mutex.h"
#include "src/common/pg.h"

namespace vecsync {

class PgPool {
 public:
  // A borrowed connection; returns to the pool when destroyed.
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Release(std::move(conn_));
    }
    PgConnection* operator->() const { return conn_.get(); }
    PgConnection& operator*() const { return *conn_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // Connections plan their statements as `plans` says (see PlanCache).
  PgPool(std::string url, int max_size, PlanCache plans = PlanCache::kCustomPlans);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Borrows a connection, opening one if none is idle and the pool is below its size.
  // UNAVAILABLE when a new connection cannot be opened.
  absl::StatusOr<Lease> Acquire();

  const std::string& url() const { return url_; }

 private:
  void Release(std::unique_ptr<PgConnection> conn);

  const std::string url_;
  const int max_size_;
  const PlanCache plans_;
  Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vecsync

#endif  // VECSYNC_COMMON_PG_POOL_H_
