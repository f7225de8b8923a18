#pragma once
// AuditLog: every mutation that reached a /v1 route (denied ones included) becomes one entry,
// made durable in the store's AuditStore (embedded: files under <data>/audit; PostgreSQL:
// audit_log) without blocking any shard. Owned by app/; the HTTP side (api/audit_gate.h)
// calls Reserve before the request's admission and Commit once its status is known.
//
// Bounded, and closed when full rather than lossy: each shard may hold `queue` entries that are
// reserved, buffered or on their way to the store; a request that finds no room is refused
// (503) before it runs, so no mutation happens unrecorded. Each loop turn, a shard hands its
// buffer to the writer on shard 0 (one SubmitTo per batch, which returns once the batch is
// durable; a batch does not wait for the one before it); the writer appends what every shard sent in one store call (group commit) and, if
// the store fails, retries with backoff while the queues fill and new mutations get 503. An
// acknowledged mutation's entry is durable a few milliseconds after its answer; a crash
// (kill -9) in between loses those entries, a clean stop flushes them. Ids follow the order in
// which entries were committed on their shards (before the answer is sent), so a mutation whose
// answer arrived before another was sent always lists before it, whichever shards served them. A periodic job on shard 0
// removes entries older than the retention; in a cluster only on the daemon that leads it.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "obs/metrics.h"
#include "reactor/task.h"
#include "reactor/turns.h"
#include "store/leadership.h"
#include "store/store.h"

namespace rf::auth {

struct AuditOptions {
  size_t queue = 4096;           // entries per shard: reserved, buffered or being written
  Nanos retention = 2160 * 3600 * kSeconds;  // 90 days
  Nanos trim_interval = 10 * 60 * kSeconds;
  Nanos close_timeout = 5 * kSeconds;        // Close: how long flushing may take
};

class AuditLog {
 public:
  AuditLog(std::unique_ptr<store::AuditStore> store, AuditOptions options, size_t shards);
  ~AuditLog();

  // Shard 0: opens the store, starts the retention job. Suspends.
  reactor::Task<Status> Open();
  // Shard 0, once the server stopped taking requests: flushes every shard's entries (up to
  // close_timeout), stops, closes the store. Suspends.
  reactor::Task<void> Close();

  // On the request's shard, synchronously. Reserve: room for one more entry (false: full; the
  // request must be refused). Each true Reserve is followed by exactly one Commit.
  bool Reserve(unsigned shard);
  void Commit(unsigned shard, store::AuditEntry entry);

  // A page of one namespace's entries, newest first. Any shard; suspends.
  reactor::Task<Result<store::AuditPage>> Query(store::AuditQuery q);

  // rf_audit_* families. Any thread.
  void RenderMetrics(std::string& out) const;

  // Before Open: retention is a singleton job of the cluster; it runs only while this daemon
  // leads it, and its deletes carry the term (store/leadership.h). Null: always (one daemon).
  void SetLeadership(store::Leadership* leader) { leader_ = leader; }

 private:
  struct alignas(64) ShardQueue {  // touched only by its shard
    std::vector<store::AuditEntry> buffer;
    size_t reserved = 0;
    size_t in_flight = 0;  // handed to the writer, not yet durable
    bool flushing = false;
    reactor::TaskGroup flusher;
    obs::Gauge held;  // reserved + buffered + in flight
    obs::Counter rejected;
  };
  struct Batch;  // a shard's entries waiting on shard 0 for the writer

  static reactor::Task<void> Flusher(AuditLog* self, unsigned shard);
  static reactor::Task<Status> WriteHere(AuditLog* self, std::vector<store::AuditEntry> entries);
  static reactor::Task<void> Writer(AuditLog* self);
  static reactor::Task<void> Retention(AuditLog* self);
  static size_t Held(AuditLog* self, unsigned shard);
  bool PendingInOrder() const;
  void Recount(ShardQueue& q) { q.held.Set(static_cast<int64_t>(q.reserved + q.buffer.size() + q.in_flight)); }

  std::unique_ptr<store::AuditStore> store_;
  AuditOptions options_;
  store::Leadership* leader_ = nullptr;
  std::vector<std::unique_ptr<ShardQueue>> queues_;
  alignas(64) std::atomic<uint64_t> next_commit_{0};  // mutations only: one RMW per entry
  // Shard 0 only.
  std::vector<Batch*> pending_;
  uint64_t next_write_ = 0;  // the seq the writer appends next
  bool writing_ = false;
  bool open_ = false;
  bool stopping_ = false;  // Close began: a failing store is not retried past close_timeout
  Nanos stop_by_ = 0;
  reactor::Turns store_turn_;  // Append and Trim one at a time (they share a connection)
  reactor::TaskGroup writer_;
  reactor::TaskGroup retention_;
  obs::Counter written_;
  obs::Counter write_errors_;
  obs::Counter dropped_;
  obs::Counter reorder_timeouts_;
};

}  // namespace rf::auth
