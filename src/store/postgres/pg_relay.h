#pragma once
// PgEventRelay: the outbox relay of the PostgreSQL store, one per instance,
// on the shard that opens it (shard 0).
//
// Each group commit writes, in the same transaction as the state change, its
// events with each run's records (the `events` view: the SSE history) and one
// row into `outbox` naming them (run, event numbers, workflow) and their partitions. The relay
// takes the outbox rows that name a partition its instance holds in
// id order with FOR UPDATE SKIP LOCKED (so several instances can drain one
// table without taking the same rows), reads the events they name when anyone
// subscribes, hands them to the SSE hubs, and only then deletes the rows in
// the same transaction: a crash in between delivers the batch again, never
// loses it. Lines of runs in partitions the instance no longer holds (they moved after the
// commit) go back into the outbox in that transaction, a row per partition, for their holders.
// Its session commits asynchronously (synchronous_commit off): a
// delete lost in a database crash only means a second delivery.
//
// It drains when a shard of this instance committed events (Nudge, coalesced:
// no pg_notify, which would serialise every commit behind one lock) and
// otherwise every poll interval, which picks up rows no nudge announced
// (committed by another instance, or before a restart).

#include <atomic>
#include <coroutine>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obs/metrics.h"
#include "reactor/shard.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace rf::store::pg {

// An outbox row's text: one line per run (see migrations/0002_outbox_steps.sql).
void AppendOutboxLine(std::string& out, std::string_view run, uint64_t first, uint64_t last,
                      std::string_view workflow);
// False when `data` is not in that form (rows read before the bad line are kept).
bool ParseOutbox(std::string_view data, std::vector<OutboxRow>& out);
// Moves the rows from `from` on whose run's partition `held` does not mark out of `rows`, in
// order, into `elsewhere` as outbox text, one entry per partition (in first-seen order).
void SplitHeld(std::vector<OutboxRow>& rows, size_t from, const std::vector<bool>& held,
               std::vector<std::pair<uint32_t, std::string>>& elsewhere);

// The relay's counters: single writer (its shard), read by /metrics anywhere.
struct RelayStats {
  obs::Counter drains;       // transactions that took rows (or found none)
  obs::Counter full_drains;  // of those, the ones that came back full: rows were waiting
  obs::Counter rows;         // outbox rows taken
  obs::Counter written_back; // lines of partitions held elsewhere written back for their holders
};

class PgEventRelay final : public EventRelay {
 public:
  explicit PgEventRelay(PgOptions options) : options_(std::move(options)) {}
  ~PgEventRelay() override;

  reactor::Task<Status> Open(Deliver deliver, Wanted wanted, Held held) override;
  void Nudge() override;
  reactor::Task<void> Close() override;
  // Appends the rf_outbox_* families.
  void RenderMetrics(std::string& out) const;

  static constexpr int kBatchRows = 512;  // outbox rows (group commits) per drain
  static constexpr Nanos kPollInterval = 500 * kMillis;
  static constexpr Nanos kMinSpacing = 10 * kMillis;

 private:
  struct Poll : reactor::Shard::TimerNode {
    PgEventRelay* self = nullptr;
  };
  class Idle;
  static reactor::Task<void> Loop(PgEventRelay* self);
  // One batch: take, deliver, delete. The rows taken; -1 on failure.
  reactor::Task<int> Drain();
  static void WakeHere(void* p);
  void Wake();

  PgOptions options_;
  Deliver deliver_;
  Wanted wanted_;
  Held held_;
  std::unique_ptr<PgPool> pool_;
  unsigned shard_ = 0;
  std::atomic<bool> nudged_{false};
  std::coroutine_handle<> idle_;  // the loop, while it waits
  Poll poll_;
  bool closing_ = false;
  Nanos last_drain_ = 0;
  RelayStats stats_;
  reactor::TaskGroup loop_;
};

}  // namespace rf::store::pg
