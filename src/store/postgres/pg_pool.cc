#include "store/postgres/pg_pool.h"

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "obs/log.h"

namespace rf::store::pg {

using reactor::Shard;
using reactor::Task;

constexpr const char* kNoneFree = "postgres pool: no connection free by the deadline";

PgPool::PgPool(Options options) : options_(std::move(options)) {
  RF_CHECK(options_.size > 0);
  RF_CHECK(options_.backoff_min > 0 && options_.backoff_min <= options_.backoff_max);
  slots_.resize(options_.size);
  idle_.reserve(options_.size);
  check_.self = this;
  check_.fire = &PgPool::OnCheck;
}

PgPool::~PgPool() {
  // Something would still point at the pool: Close() must have finished.
  RF_CHECK(group_.active() == 0 && leased_ == 0 && waiters_.empty());
  if (shard_ != nullptr) shard_->Disarm(&check_);
}

void PgPool::AssertShard() const { RF_CHECK(shard_ == &Shard::Current()); }

void PgPool::Start() {
  RF_CHECK(!started_);
  started_ = true;
  shard_ = &Shard::Current();
  // One connection first, the others once it is up: at a start every pool of every shard opens
  // at once, and the database (and this host) set up the first connections of all of them
  // sooner than all connections of each; a restart waits for the first ones.
  Reconnect(0);
  ArmCheck();
}

void PgPool::Reconnect(size_t slot) {
  slots_[slot].state = SlotState::kConnecting;
  ++connecting_;
  reactor::Spawn(Maintain(this, slot), &group_);
}

Task<void> PgPool::Maintain(PgPool* pool, size_t slot) {
  const Options& opt = pool->options_;
  Nanos backoff = opt.backoff_min;
  while (true) {
    // The slot is kConnecting (counted in connecting_) while an attempt runs.
    Result<std::unique_ptr<PgConn>> conn = co_await PgConn::Connect(
        std::string(opt.url), Deadline::After(opt.connect_timeout), &pool->cancel_);  // suspends
    Status ready = conn ? Status{} : Status(conn.error());
    if (conn && !opt.statements.empty()) {
      ready = co_await (*conn)->PrepareAll(opt.statements, Deadline::After(opt.connect_timeout),
                                           &pool->cancel_);  // suspends
    }
    --pool->connecting_;
    if (pool->closing_) break;
    if (ready) {
      pool->Install(slot, std::move(*conn));
      co_return;
    }
    pool->stats_.connect_failures.Add();
    std::string_view why = ready.error().context;
    if (why.starts_with("postgres: ")) why.remove_prefix(10);
    pool->last_error_ = std::string(why);
    RF_LOG(kDebug, "postgres connection attempt failed", {"slot", slot},
           {"error", pool->last_error_});
    if (pool->up_ == 0 && pool->connecting_ == 0) {
      if (!pool->reported_down_) {
        pool->reported_down_ = true;
        RF_LOG(kWarn, "postgres unavailable", {"error", pool->last_error_});
      }
      pool->waiters_.WakeAll(Error{Errc::kUnavailable, "postgres unavailable: " + pool->last_error_});
    }
    // +-20% jitter so that the slots (and shards) do not retry in lockstep.
    pool->rng_ ^= pool->rng_ << 13;
    pool->rng_ ^= pool->rng_ >> 7;
    pool->rng_ ^= pool->rng_ << 17;
    const Nanos jitter = static_cast<Nanos>(pool->rng_ % 401) - 200;  // per mille
    const Nanos pause = backoff + backoff * jitter / 1000;
    pool->slots_[slot].state = SlotState::kBackoff;
    {
      reactor::Nap nap(&pool->slots_[slot].nap, pause);
      co_await nap;  // suspends
    }
    if (pool->closing_) break;
    backoff = std::min(backoff * 2, opt.backoff_max);
    pool->slots_[slot].state = SlotState::kConnecting;
    ++pool->connecting_;
  }
  pool->slots_[slot].state = SlotState::kDown;
}

void PgPool::Install(size_t slot, std::unique_ptr<PgConn> conn) {
  slots_[slot].conn = std::move(conn);
  ++up_;
  stats_.connects.Add();
  stats_.up.Set(static_cast<int64_t>(up_));
  if (reported_down_) {
    reported_down_ = false;
    RF_LOG(kInfo, "postgres connection restored");
  }
  Hand(slot);
  if (!all_started_) {
    all_started_ = true;
    for (size_t i = 1; i < slots_.size(); ++i) Reconnect(i);
  }
}

void PgPool::Hand(size_t slot) {
  Slot& s = slots_[slot];
  if (!waiters_.empty()) {
    s.state = SlotState::kLeased;
    ++leased_;
    stats_.acquired.Add();
    waiters_.WakeFront(s.conn.get());
    return;
  }
  s.state = SlotState::kIdle;
  idle_.push_back(slot);
}

void PgPool::Drop(size_t slot, const char* why) {
  Slot& s = slots_[slot];
  if (s.conn != nullptr) {
    last_error_ = s.conn->last_error().empty() ? std::string(why) : s.conn->last_error();
    RF_LOG(kDebug, "postgres connection dropped", {"slot", slot}, {"why", last_error_});
  }
  s.conn.reset();
  s.state = SlotState::kDown;
  --up_;
  stats_.dropped.Add();
  stats_.up.Set(static_cast<int64_t>(up_));
  if (!closing_) Reconnect(slot);
}

Task<Result<PgConn*>> PgPool::Acquire(Deadline deadline) {
  AssertShard();
  if (closing_ || !started_) {
    co_return Error{Errc::kUnavailable,
                    closing_ ? "postgres pool is closed" : "postgres pool is not started"};
  }
  while (!idle_.empty()) {
    const size_t slot = idle_.back();
    idle_.pop_back();
    Slot& s = slots_[slot];
    if (!s.conn->CheckIdle()) {
      Drop(slot, "lost while idle");
      continue;
    }
    s.state = SlotState::kLeased;
    ++leased_;
    stats_.acquired.Add();
    co_return s.conn.get();
  }
  if (up_ == 0 && connecting_ == 0) {
    co_return Error{Errc::kUnavailable, "postgres unavailable: " + last_error_};
  }
  if (waiters_.size() >= options_.max_waiters) {
    stats_.rejected.Add();
    co_return Error{Errc::kRetryLater, "postgres pool: too many callers waiting"};
  }
  if (deadline.Expired()) {
    co_return Error{Errc::kTimeout, kNoneFree};
  }
  stats_.waited.Add();
  reactor::WaitList<Result<PgConn*>>::Waiter wait(
      waiters_, deadline, Error{Errc::kTimeout, kNoneFree});
  Result<PgConn*> r = co_await wait;  // suspends
  if (!r && r.error().code == Errc::kTimeout) stats_.wait_timeouts.Add();
  co_return r;
}

void PgPool::Release(PgConn* conn) {
  AssertShard();
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [conn](const Slot& s) { return s.conn.get() == conn; });
  RF_CHECK(it != slots_.end() && it->state == SlotState::kLeased);
  const size_t slot = static_cast<size_t>(it - slots_.begin());
  --leased_;
  if (conn->broken()) {
    Drop(slot, "broken");
  } else if (!conn->transaction_idle()) {
    RF_LOG(kWarn, "postgres connection released inside a transaction; closing it");
    Drop(slot, "released inside a transaction");
  } else if (closing_) {
    it->state = SlotState::kIdle;
    idle_.push_back(slot);
  } else {
    Hand(slot);
  }
  if (closing_ && leased_ == 0 && close_waiter_) {
    Shard::Current().Schedule(std::exchange(close_waiter_, {}));
  }
}

void PgPool::ArmCheck() {
  if (options_.idle_check_interval > 0 && !closing_) {
    shard_->Arm(&check_, MonoNow() + options_.idle_check_interval);
  }
}

void PgPool::OnCheck(Shard::TimerNode* node) {
  PgPool* pool = static_cast<CheckTimer*>(node)->self;
  std::vector<size_t> lost;
  for (size_t slot : pool->idle_) {
    if (!pool->slots_[slot].conn->CheckIdle()) lost.push_back(slot);
  }
  for (size_t slot : lost) {
    std::erase(pool->idle_, slot);
    pool->Drop(slot, "lost while idle");
  }
  pool->ArmCheck();
}

Task<void> PgPool::Close() {
  if (!started_ || closing_) co_return;
  AssertShard();
  closing_ = true;
  shard_->Disarm(&check_);
  cancel_.Fire();  // connection attempts in flight end with kCancelled
  for (Slot& s : slots_) {
    if (s.nap != nullptr) s.nap->Wake();
  }
  waiters_.WakeAll(Error{Errc::kUnavailable, "postgres pool is closed"});
  auto tasks_done = group_.Wait();
  co_await tasks_done;  // suspends: the Maintain tasks end
  if (leased_ > 0) {
    struct LeasesBack {
      PgPool* pool;
      bool await_ready() const noexcept { return pool->leased_ == 0; }
      void await_suspend(std::coroutine_handle<> h) { pool->close_waiter_ = h; }
      void await_resume() noexcept {}
    };
    LeasesBack back{this};
    co_await back;  // suspends until the last Release
  }
  for (Slot& s : slots_) {
    s.conn.reset();
    s.state = SlotState::kDown;
  }
  idle_.clear();
  up_ = 0;
  stats_.up.Set(0);
}

}  // namespace rf::store::pg
