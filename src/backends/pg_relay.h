#pragma once
// PgEventRelay: the outbox relay of the PostgreSQL store, one per instance,
// on the shard that opens it (shard 0).
//
// Each commit writes its events into the events table in the same
// transaction as the state change. The relay takes undelivered rows in id
// order with FOR UPDATE SKIP LOCKED (so several instances can drain one table
// without taking the same rows), hands them to the SSE hubs, and only then
// marks them relayed in the same transaction: a crash in between delivers the
// batch again, never loses it. The rows stay: they are the runs' SSE history.
//
// It drains when a shard of this instance committed events (Nudge, coalesced:
// no pg_notify, which would serialise every commit behind one lock) and
// otherwise every poll interval, which picks up rows no nudge announced
// (committed by another instance, or before a restart).

#include <atomic>
#include <coroutine>
#include <memory>

#include "backends/pg_store.h"
#include "engine/run_store.h"
#include "reactor/shard.h"
#include "store/postgres/pg_pool.h"

namespace rf::backends {

class PgEventRelay final : public engine::EventRelay {
 public:
  explicit PgEventRelay(PgOptions options) : options_(std::move(options)) {}
  ~PgEventRelay() override;

  reactor::Task<Status> Open(Deliver deliver) override;
  void Nudge() override;
  reactor::Task<void> Close() override;

  static constexpr int kBatchRows = 512;
  static constexpr Nanos kPollInterval = 500 * kMillis;

  // Rows delivered and drain transactions, for tests and /metrics.
  uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }

 private:
  struct Poll : reactor::Shard::TimerNode {
    PgEventRelay* self = nullptr;
  };
  class Idle;
  static reactor::Task<void> Loop(PgEventRelay* self);
  // One batch: take, deliver, mark. The rows taken; -1 on failure.
  reactor::Task<int> Drain();
  static void WakeHere(void* p);
  void Wake();

  PgOptions options_;
  Deliver deliver_;
  std::unique_ptr<store::pg::PgPool> pool_;
  unsigned shard_ = 0;
  std::atomic<bool> nudged_{false};
  std::atomic<uint64_t> delivered_{0};
  std::coroutine_handle<> idle_;  // the loop, while it waits
  Poll poll_;
  bool closing_ = false;
  reactor::TaskGroup loop_;
};

}  // namespace rf::backends
