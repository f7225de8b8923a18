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
// Ownership: several instances share one database. A shard wants the
// partitions its ring gives it and holds each one under a lease (owner, fencing
// epoch, expiry kLeaseSeconds ahead, renewed every second). It takes a lease
// only when it is free, expired or already this instance's (a restart on the
// same data dir), at Open and then every second (TakeOver: the live runs of a
// partition whose holder died resume here once its lease expired). Release
// hands partitions over at run time (the ring of live instances gives them to
// another one) and a clean Close hands all of them over (they expire at once).
//
// Fencing: each batch re-checks, inside its transaction, that this instance
// still holds every partition it writes for at that partition's epoch, so an
// instance whose partition was taken over can never overwrite the new owner's
// state (it stops instead: exit 75, and a supervisor restarts it).

#include <atomic>
#include <coroutine>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "reactor/shard.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_stats.h"
#include "store/store.h"

namespace rf::store::pg {

struct PgOptions {
  std::string url;
  size_t pool = 4;                     // connections per shard for its group commits
  size_t read_pool = 2;                // connections per shard for reads (history, SSE history)
  std::string instance;                // this instance's id in partition_leases (stable across restarts)
  std::string advertise;               // host:port peers forward requests to (instances table); empty: none
  unsigned shards = 1;                 // this instance's shards: its weight on the ring of members
  bool standby = false;                // holds partitions only while no member without it lives
  Nanos statement_timeout = 10 * kSeconds;
};

class PgEventRelay;
class PgHistoryStore;

class PgRunStore final : public RunStore {
 public:
  // `relay`: the instance's outbox relay, nudged after commits with events.
  PgRunStore(PgOptions options, unsigned shard, std::vector<uint32_t> partitions,
             PgEventRelay* relay);
  ~PgRunStore() override;

  reactor::Task<Status> Open(RecordSink& sink) override;
  bool wants_rows() const override { return true; }
  uint64_t Append(const RunRow& run, const AppendedRecord& r) override;
  void AppendEvent(const RunRow& run, uint64_t seq, int64_t at_ms, std::string_view event) override;
  bool wants_events() const override { return true; }
  bool relays_events() const override { return relay_ != nullptr; }
  reactor::Task<Result<std::vector<OutboxRow>>> History(const RunId& run, uint64_t after_seq) override;
  bool loads_timers() const override { return true; }
  bool moves_partitions() const override { return true; }
  std::vector<uint32_t> held() const override;
  reactor::Task<Result<std::vector<uint32_t>>> TakeOver(std::vector<uint32_t> wanted, RecordSink& sink) override;
  reactor::Task<Status> Release(std::vector<uint32_t> partitions) override;
  reactor::Task<Result<std::vector<Member>>> Members() override;
  reactor::Task<Result<std::string>> HolderOf(uint32_t partition) override;
  void Forget(const RunId& id) override;
  uint64_t last_ticket() const override { return appended_; }
  bool healthy() const override { return healthy_.load(std::memory_order_relaxed); }
  reactor::Task<Status> Durable(uint64_t ticket) override;
  reactor::Task<Status> Close() override;
  const StoreStats& stats() const { return stats_; }
  // This shard's connections (null until Open), shared with PgHistoryStore's calls
  // made on this shard: pool() commits, read_pool() serves reads (with
  // PgHistoryStore::ReadStatements prepared). Shard-local.
  PgPool* pool() const { return pool_.get(); }
  PgPool* read_pool() const { return read_pool_.get(); }

 private:
  struct PendingRun;
  struct Batch;
  struct Waiter;
  static PendingRun& PendingOf(Batch& b, const RunRow& run);
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
  reactor::Task<void> Renew();
  // Takes the leases it can of `wanted` and replays their live runs into `sink`.
  reactor::Task<Result<std::vector<uint32_t>>> ClaimAndLoad(std::vector<uint32_t> wanted, RecordSink& sink);
  // Ends the leases of `parts` (all held ones at Close) and forgets them.
  reactor::Task<void> ReleaseLeases(std::vector<uint32_t> parts);
  // Shard 0: this instance's row in `instances` (its --advertise address), now.
  reactor::Task<void> Advertise();
  // Partition and epoch arrays of the leases held (ready or not), or of `only` of them.
  std::pair<std::string, std::string> LeaseArrays(const std::vector<uint32_t>* only = nullptr) const;
  static reactor::Task<Status> EnsurePartitions(PgRunStore* self);
  static reactor::Task<void> Committer(PgRunStore* self);
  static reactor::Task<void> CommitOne(PgRunStore* self, std::unique_ptr<Batch> b, InFlight* slot);
  reactor::Task<Status> CommitBatch(const Batch& b);
  void Release();
  Batch& batch();


  PgOptions options_;
  unsigned shard_;
  std::vector<uint32_t> partitions_;  // wanted: what the ring gives this shard
  PgEventRelay* relay_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgPool> read_pool_;
  struct Lease {
    int64_t epoch = 0;
    bool ready = false;  // its live runs are loaded: the coordinator has them
  };
  std::map<uint32_t, Lease> leases_;  // partition -> the lease this shard holds
  struct Holder {
    std::string advertise;  // empty: nobody else holds it
    Nanos looked = 0;       // MonoNow of the lookup
  };
  std::unordered_map<uint32_t, Holder> holders_;  // HolderOf's answers, about a second old at most
  std::unique_ptr<Batch> pending_;
  std::deque<InFlight> in_flight_;  // commits under way, oldest first
  // The status each unfinished run's row has (or will have once committed).
  std::unordered_map<RunId, RunStatus, RunIdHash> persisted_;
  Nanos logged_ = 0;
  Nanos partitions_ensured_ = 0;  // MonoNow of the last rf_ensure_partitions (shard 0)
  uint64_t appended_ = 0;
  uint64_t durable_ = 0;
  Waiter* waiters_ = nullptr;
  std::coroutine_handle<> parked_;  // the committer, while idle
  std::coroutine_handle<> closed_;  // Close(), waiting for the committer
  bool closing_ = false;
  bool renewing_ = false;  // a lease renewal is under way: Release waits for it
  bool committer_done_ = false;
  std::atomic<bool> healthy_{true};
  StoreStats stats_;
  Heartbeat heartbeat_;
  reactor::TaskGroup background_;  // lease renewals
};

class PgDefinitionLog final : public DefinitionLog {
 public:
  explicit PgDefinitionLog(PgOptions options) : options_(std::move(options)) {}
  ~PgDefinitionLog() override;
  reactor::Task<Status> Open(DefinitionSink& sink) override;
  bool shared() const override { return true; }
  reactor::Task<Status> Reload(DefinitionSink& sink) override;
  void Append(const DefinitionChange& change) override;
  reactor::Task<Status> Commit() override;
  reactor::Task<Status> Close() override;

 private:
  PgOptions options_;
  std::unique_ptr<PgPool> pool_;
  std::vector<DefinitionChange> pending_;
  // What the last read saw ("versions,deleted"): versions are never removed, so
  // any change by any instance changes one of the two counts.
  std::string seen_;
};

class PgStoreFactory final : public StoreFactory {
 public:
  explicit PgStoreFactory(PgOptions options);
  ~PgStoreFactory() override;
  std::unique_ptr<RunStore> MakeRunStore(unsigned shard, std::vector<uint32_t> partitions) override;
  std::unique_ptr<DefinitionLog> MakeDefinitionLog() override {
    return std::make_unique<PgDefinitionLog>(options_);
  }
  std::unique_ptr<KeyStore> MakeKeyStore() override;  // api_keys (pg_keys.h)
  std::unique_ptr<SecretStore> MakeSecretStore() override;  // secrets (pg_secrets.h)
  std::unique_ptr<ScheduleStore> MakeScheduleStore(unsigned shard) override;  // pg_schedules.h
  std::unique_ptr<AuditStore> MakeAuditStore(uint64_t max_bytes) override;  // audit_log (pg_audit.h)
  EventRelay* relay() override;
  // Served with the pool of the calling shard's run store (MakeRunStore records them).
  // Made on the first call: call it before the shards run (as relay() is).
  HistoryStore* history() override;
  void RenderMetrics(std::string& out) const override;

 private:
  PgOptions options_;
  std::unique_ptr<PgEventRelay> relay_;
  std::vector<PgRunStore*> run_stores_;  // by shard; written before the shards run
  std::unique_ptr<PgHistoryStore> history_;
};

}  // namespace rf::store::pg
