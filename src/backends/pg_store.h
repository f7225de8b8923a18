#pragma once
// The PostgreSQL backend of RunStore and DefinitionLog.
//
// Group commit: everything a shard appends in one loop turn goes to
// PostgreSQL as one transaction in one round trip (a pipeline of multi-row
// statements fed by arrays: run records, run rows, outbox events, timeouts),
// and the coordinator's waiters resume only after COMMIT returned. Every
// statement is idempotent (ON CONFLICT), so a batch whose COMMIT outcome is
// unknown (the connection broke) is simply sent again.
//
// Fencing: at Open the shard takes the leases of its partitions with a new
// epoch; each batch re-checks, inside its transaction, that this instance still
// holds them with that epoch, so an instance that lost its partitions can
// never overwrite a newer owner's state (it stops instead).

#include <atomic>
#include <coroutine>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/run_store.h"
#include "reactor/shard.h"
#include "store/postgres/pg_pool.h"

namespace rf::backends {

struct PgOptions {
  std::string url;
  size_t pool = 4;                     // connections per shard
  std::string instance;                // this process's id in partition_leases
  Nanos statement_timeout = 10 * kSeconds;
  // Whether a shard's store replays finished runs at Open (RunStore::loads_finished).
  // false: only unfinished runs are loaded; finished ones are read through
  // PgHistoryStore (StoreFactory::history()). Config: --pg-load-finished.
  bool load_finished = false;
};

class PgEventRelay;
class PgHistoryStore;

class PgRunStore final : public engine::RunStore {
 public:
  // `relay`: the instance's outbox relay, nudged after commits with events.
  PgRunStore(PgOptions options, unsigned shard, std::vector<uint32_t> partitions,
             PgEventRelay* relay);
  ~PgRunStore() override;

  reactor::Task<Status> Open(engine::RecordSink& sink) override;
  uint64_t Append(const engine::Run& run, const engine::Record& r, uint32_t seq,
                  std::string_view payload) override;
  void AppendEvents(const engine::Run& run, const std::vector<engine::Event>& events) override;
  bool wants_events() const override { return true; }
  bool relays_events() const override { return relay_ != nullptr; }
  reactor::Task<Result<std::vector<engine::OutboxRow>>> History(const engine::RunId& run,
                                                                uint64_t after_seq) override;
  bool loads_timers() const override { return true; }
  bool loads_finished() const override { return options_.load_finished; }
  void Forget(const engine::RunId& id) override;
  uint64_t last_ticket() const override { return appended_; }
  bool healthy() const override { return healthy_.load(std::memory_order_relaxed); }
  reactor::Task<Status> Durable(uint64_t ticket) override;
  reactor::Task<Status> Close() override;
  const engine::StoreStats* store_stats() const override { return &stats_; }
  // This shard's connections (null until Open), shared with PgHistoryStore's calls
  // made on this shard. Shard-local.
  store::pg::PgPool* pool() const { return pool_.get(); }

 private:
  struct RunRow;
  struct Batch;
  struct Waiter;
  static RunRow& RowOf(Batch& b, const engine::Run& run);
  class DurableWait;
  struct InFlight {
    uint64_t ticket;
    bool done;
  };
  struct Heartbeat : reactor::Shard::TimerNode {
    PgRunStore* self = nullptr;
  };
  static void OnHeartbeat(reactor::Shard::TimerNode* n);
  static reactor::Task<void> RenewLeases(PgRunStore* self);
  static reactor::Task<Status> EnsurePartitions(PgRunStore* self);
  static reactor::Task<void> Committer(PgRunStore* self);
  static reactor::Task<void> CommitOne(PgRunStore* self, std::unique_ptr<Batch> b, InFlight* slot);
  reactor::Task<Status> CommitBatch(const Batch& b);
  void Release();
  Batch& batch();


  PgOptions options_;
  unsigned shard_;
  std::vector<uint32_t> partitions_;
  PgEventRelay* relay_;
  std::unique_ptr<store::pg::PgPool> pool_;
  int64_t epoch_ = 0;
  std::unique_ptr<Batch> pending_;
  std::deque<InFlight> in_flight_;  // commits under way, oldest first
  // The status each unfinished run's row has (or will have once committed).
  std::unordered_map<engine::RunId, engine::RunStatus, engine::RunIdHash> persisted_;
  Nanos logged_ = 0;
  Nanos partitions_ensured_ = 0;  // MonoNow of the last rf_ensure_partitions (shard 0)
  uint64_t appended_ = 0;
  uint64_t durable_ = 0;
  Waiter* waiters_ = nullptr;
  std::coroutine_handle<> parked_;  // the committer, while idle
  std::coroutine_handle<> closed_;  // Close(), waiting for the committer
  bool closing_ = false;
  bool committer_done_ = false;
  std::atomic<bool> healthy_{true};
  engine::StoreStats stats_;
  Heartbeat heartbeat_;
  reactor::TaskGroup background_;  // lease renewals
};

class PgDefinitionLog final : public engine::DefinitionLog {
 public:
  explicit PgDefinitionLog(PgOptions options) : options_(std::move(options)) {}
  ~PgDefinitionLog() override;
  reactor::Task<Status> Open(store::embedded::ReplaySink& sink) override;
  void Append(uint8_t type, std::string_view payload) override;
  reactor::Task<Status> Commit() override;
  reactor::Task<Status> Close() override;

 private:
  PgOptions options_;
  std::unique_ptr<store::pg::PgPool> pool_;
  std::vector<std::pair<uint8_t, std::string>> pending_;
};

class PgStoreFactory final : public engine::StoreFactory {
 public:
  explicit PgStoreFactory(PgOptions options);
  ~PgStoreFactory() override;
  std::unique_ptr<engine::RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t> partitions) override;
  std::unique_ptr<engine::DefinitionLog> MakeDefinitionLog() override {
    return std::make_unique<PgDefinitionLog>(options_);
  }
  engine::EventRelay* relay() override;
  // Served with the pool of the calling shard's run store (MakeRunStore records them).
  // Made on the first call: call it before the shards run (as relay() is).
  engine::HistoryStore* history() override;

 private:
  PgOptions options_;
  std::unique_ptr<PgEventRelay> relay_;
  std::vector<PgRunStore*> run_stores_;  // by shard; written before the shards run
  std::unique_ptr<PgHistoryStore> history_;
};

}  // namespace rf::backends
