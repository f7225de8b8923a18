#pragma once
// PgPool: a shard's PostgreSQL connections (PgConn), handed out one caller at a time.
//
// Shard-local: created, started, used, closed and destroyed on one shard's thread (RF_CHECKed).
// `size` connections are made in the background once Start() is called; each one that breaks (a
// lost server, a deadline that expired mid-exchange, a transaction left open) is discarded when
// it comes back and made again in the background: at once, then after 100 ms, 200 ms, ... up to
// 5 s between attempts (with +-20% jitter), until it succeeds or the pool closes. Every new
// connection prepares `statements` before it is handed out.
//
//   PgPool pool({.url = url, .size = 4, .statements = {{"get_run", "SELECT ...", 1}}});
//   pool.Start();
//   Result<PgConn*> conn = co_await pool.Acquire(deadline);  // suspends while all are busy
//   if (!conn) return conn.error();                           // kUnavailable: DB down
//   PgLease lease(&pool, *conn);                              // Release()s at scope exit
//   auto results = co_await (*conn)->Pipeline(queries, deadline);
//
// Acquire takes an idle connection at once (checking, with one non-blocking read, that the
// server has not closed it meanwhile), else waits, first come first served, until one is
// released or made. Errors:
//   kUnavailable  no connection is up and no attempt to make one is in progress (the last
//                 attempt failed: PostgreSQL is down; the message says why), or every attempt
//                 made while waiting failed; or the pool is closing
//   kTimeout      still waiting at the deadline
//   kRetryLater   max_waiters callers are waiting already (the wait queue is bounded)
// A connection goes back with Release() (or PgLease); one that broke goes back the same way.
//
// Idle connections are checked every idle_check_interval (one non-blocking read each), so a
// server restart is noticed, and the connections remade, even when no caller is asking; the
// same check runs on the connection that Acquire hands out.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "obs/pool_stats.h"
#include "obs/metrics.h"
#include "reactor/cancel_token.h"
#include "reactor/nap.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "reactor/wait_list.h"
#include "store/postgres/pg_conn.h"

namespace rf::store::pg {

using PgPoolStats = obs::PoolStats;

class PgPool {
 public:
  struct Options {
    std::string url;  // libpq URL; see PgConn::Connect for host names
    size_t size = 4;
    Nanos connect_timeout = 5 * kSeconds;  // one attempt, statements prepared included
    Nanos backoff_min = 100 * kMillis;
    Nanos backoff_max = 5 * kSeconds;
    Nanos idle_check_interval = 1 * kSeconds;  // 0: only Acquire checks
    size_t max_waiters = 4096;
    std::vector<Statement> statements = {};  // prepared on every connection
  };

  explicit PgPool(Options options);
  // RF_CHECKs that nothing still runs for the pool: Close() first if it was started.
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Starts making the connections (in the background, on this shard). Once.
  void Start();

  // A connection for the caller alone until Release. suspends (only to wait). See above.
  reactor::Task<Result<PgConn*>> Acquire(Deadline deadline);
  // Gives back what Acquire returned: handed to the first waiter, kept idle, or (broken, in a
  // transaction, or the pool closing) discarded and made again. Never suspends.
  void Release(PgConn* conn);

  // Stops: waiters fail with kUnavailable, connection attempts are cancelled, backoffs cut
  // short; then waits for every leased connection to come back and closes them all. suspends.
  reactor::Task<void> Close();

  bool healthy() const { return up_ > 0; }  // at least one connection is up
  size_t size() const { return slots_.size(); }
  size_t up() const { return up_; }
  size_t idle() const { return idle_.size(); }
  size_t waiting() const { return waiters_.size(); }
  // Why the last connection attempt failed or the last connection broke ("" if none did).
  const std::string& last_error() const { return last_error_; }
  PgPoolStats& stats() { return stats_; }

 private:
  enum class SlotState : uint8_t { kDown, kConnecting, kBackoff, kIdle, kLeased };
  struct Slot {
    std::unique_ptr<PgConn> conn;
    SlotState state = SlotState::kDown;
    reactor::Nap* nap = nullptr;  // set while backing off: Close cuts it short
  };
  struct CheckTimer : reactor::Shard::TimerNode {
    PgPool* self = nullptr;
  };

  static reactor::Task<void> Maintain(PgPool* pool, size_t slot);
  void Reconnect(size_t slot);  // spawns Maintain for a slot that is down
  void Install(size_t slot, std::unique_ptr<PgConn> conn);
  void Hand(size_t slot);  // to the first waiter, else idle
  void Drop(size_t slot, const char* why);
  void ArmCheck();
  static void OnCheck(reactor::Shard::TimerNode* node);
  void AssertShard() const;

  Options options_;
  reactor::Shard* shard_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<size_t> idle_;  // slot numbers, most recently used last
  reactor::WaitList<Result<PgConn*>> waiters_;  // Acquire calls waiting for a connection
  size_t up_ = 0;
  size_t connecting_ = 0;
  size_t leased_ = 0;
  bool started_ = false;
  bool all_started_ = false;  // every slot has connected once or is connecting (Start, Install)
  bool closing_ = false;
  bool reported_down_ = false;  // "unavailable" logged; "restored" is logged once it is back
  std::string last_error_;
  uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  std::coroutine_handle<> close_waiter_;  // Close() waiting for leases to come back
  CheckTimer check_;
  reactor::TaskGroup group_;     // the Maintain tasks
  reactor::CancelToken cancel_;  // fired by Close: in-flight connection attempts end
  PgPoolStats stats_;
};

// Releases a connection to its pool at scope exit. Move-only.
class PgLease {
 public:
  PgLease(PgPool* pool, PgConn* conn) : pool_(pool), conn_(conn) {}
  PgLease(PgLease&& o) noexcept : pool_(o.pool_), conn_(std::exchange(o.conn_, nullptr)) {}
  PgLease& operator=(PgLease&&) = delete;
  PgLease(const PgLease&) = delete;
  ~PgLease() { Release(); }
  PgConn* operator->() const { return conn_; }
  PgConn& operator*() const { return *conn_; }
  void Release() {
    if (conn_ != nullptr) pool_->Release(std::exchange(conn_, nullptr));
  }

 private:
  PgPool* pool_;
  PgConn* conn_;
};

}  // namespace rf::store::pg
