#pragma once
// Engine: the process-wide face of the per-shard coordinators. It owns them,
// the partition -> shard map (the consistent-hash ring), and the definitions:
// shard 0 keeps the master Registry and its own small journal
// (<data>/definitions) and publishes an immutable copy to every shard after
// each durable change. Callers on any shard route run commands to
// OwnerOf(partition) with SubmitTo; definition commands go to shard 0.

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash_ring.h"
#include "engine/coordinator.h"
#include "engine/engine_metrics.h"
#include "engine/registry.h"
#include "reactor/task.h"
#include "store/member_directory.h"
#include "store/store.h"

namespace rf::engine {

// Checks (or, on a fresh directory, writes) <data>/layout: runs are placed by
// shard, so a data directory must be reopened with the shard count that wrote it.
// Blocking file I/O: call before the reactor starts.
Status CheckLayout(const std::string& data_dir, size_t shards);

class Engine {
 public:
  // `http[i]`: shard i's executor for http steps (must outlive the engine).
  // `stores`: the adapter app/ picked (must outlive the engine).
  Engine(size_t shards, EngineOptions options, std::vector<HttpExecutor*> http,
         store::StoreFactory* stores);
  ~Engine();

  const EngineOptions& options() const { return options_; }
  const EngineMetrics& metrics() const { return metrics_; }
  size_t shards() const { return coordinators_.size(); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // A quota reads the retained history bytes (the quotas file sets retained_history_bytes
  // somewhere; NamespaceUsage::WantHistoryBytes). Any thread, before Open and at reloads.
  void WantHistoryBytes(bool wanted) { metrics_.namespaces.WantHistoryBytes(wanted); }
  // Every shard's store can commit (PostgreSQL reachable). Any thread.
  bool stores_healthy() const {
    for (const auto& c : coordinators_)
      if (!c->healthy()) return false;
    return true;
  }

  // On shard 0, once: opens the definitions, then every shard's coordinator.
  reactor::Task<Status> Open();
  // On shard 0: stops every coordinator and closes the journals.
  reactor::Task<void> Close();

  // Every shard's journal metrics and the definitions journal's; empty until ready().
  // Appends the stores' own metric families (nothing until ready()). Any thread.
  void RenderStoreMetrics(std::string& out) const;
  // The history store's metrics; null without one or until ready().
  const store::HistoryStats* history_stats() const {
    return ready() && history_ ? &history_->stats() : nullptr;
  }

  // GET of a finished run on the calling shard, without a hop to its owner: a succeeded run
  // that history answers from memory (HistoryStore::GetNow) or, on a shard that is not the
  // owner, from the disk through the helper pool (embedded) or from the database for a run older
  // than --history-read-age (PostgreSQL: for a live run that query is paid for nothing).
  // nullopt: ask the owner (on the owner's shard: the run is in its memory, or history has it
  // only on disk, which the owner loads into its cache; or history has it not at all; or it did
  // not succeed: a failed or cancelled run may be retried, which only its owner sees).
  // Any shard; suspends only for that disk read.
  reactor::Task<std::optional<Result<RunView>>> GetFinished(RunId id, std::string ns);

  // A listing across every shard's memory and the history store, newest
  // first. Any shard; suspends. Errors: the history store's.
  reactor::Task<Result<RunPage>> List(RunQuery q);

  // Every shard's circuit breakers (each shard trips on its own calls: a key may be listed
  // once per shard). Any shard; suspends.
  reactor::Task<std::vector<BreakerView>> Breakers();

  unsigned OwnerOf(uint32_t partition) const { return owner_[partition]; }
  unsigned OwnerOf(const RunId& id) const { return owner_[id.partition()]; }
  // A start with an Idempotency-Key lands on the partition of (workflow, key), so
  // duplicates meet on one owner; without one, on a partition the calling shard
  // owns, so the start needs no cross-shard hop.
  uint32_t PartitionForStart(std::string_view workflow, std::string_view key);
  // The same for a start of `def` with `input`: a workflow with a concurrency limit goes to its
  // key's partition (engine/flow_control.h), where every run of the key meets, even when the
  // start has an idempotency key (repeats with the same input meet there too).
  uint32_t PartitionForStart(const Definition& def, const json::Value& input, std::string_view key);
  // Concurrency keys with live or queued runs (every shard's, at most `max` each), busiest first.
  reactor::Task<std::vector<FlowKeyView>> FlowKeys(std::string workflow, size_t max);
  // Step concurrency keys (engine/permit_table.h) of `scopes` with permits in use or waiters,
  // from every home shard (at most `max` each), busiest first. Any shard; suspends.
  reactor::Task<std::vector<PermitKeyView>> PermitKeys(std::vector<std::string> scopes, size_t max);
  // The advertised address (host:port) of the other instance that holds `partition`, asked of
  // the partition's owner shard's store. Any shard; suspends. Errors: kNotFound (no other
  // instance holds it), the store's.
  reactor::Task<Result<std::string>> HolderOf(uint32_t partition);
  // Before Open, with a store that relays events: what this instance's relay delivers goes
  // to the other instances through `bus`, and theirs comes here, so an event stream of a run
  // held elsewhere is served here too. Must outlive the engine's Close.
  void SetEventBus(store::EventBus* bus) { bus_ = bus; }
  // Before Open, with a store that moves partitions: the ring is built over the members that
  // also have a live entry in `dir` (engine/membership.h, LiveMembers), and a change there
  // starts a rebalance at once. Started once the engine is open; its entry is deleted after
  // Close handed the partitions over. Must outlive the engine's Close.
  void SetMemberDirectory(store::MemberDirectory* dir) { directory_ = dir; }
  // Before Open: the cluster's singleton jobs (history retention) run only while this daemon
  // leads them (store/leadership.h). Not set: always (one daemon). Must outlive the engine.
  void SetLeadership(store::Leadership* leader) {
    if (history_ && !coordinators_.empty()) coordinators_[0]->RunHistoryRetention(leader);
  }

  // Before Open, with a store that moves partitions: how a shard reaches a run another daemon
  // holds (a child run on its key's partition there: coordinator_children.cc). Called on the
  // calling shard. Not set: such a child runs on its parent's partition.
  void SetRemoteRuns(RemoteRuns remote) {
    remote_ = std::move(remote);
    for (auto& c : coordinators_) c->SetRemoteRuns(&remote_);
  }

  // Before Open, in a cluster with Redis: shard i's step concurrency permits are leases of the
  // cluster's through shares[i] (coordinator_permit_share.cc), so a step's limit holds for every
  // daemon together. Each must outlive the engine; Open starts them, Close closes them.
  void SetPermitShares(const std::vector<store::PermitShare*>& shares) {
    for (size_t i = 0; i < shares.size() && i < coordinators_.size(); ++i)
      coordinators_[i]->SetPermitShare(shares[i], &metrics_.members);
  }

  // Before Open: shard i records its runs' spans into tracers[i] (each must outlive the engine).
  void SetTracers(const std::vector<trace::Tracer*>& tracers) {
    for (size_t i = 0; i < tracers.size() && i < coordinators_.size(); ++i)
      coordinators_[i]->SetTracer(tracers[i]);
  }

  struct PutOutcome {
    Compiled compiled;  // errors, or the definition
    int64_t version = 0;
    bool created = false;
  };
  // On shard 0. A failed commit of the definitions log ends the process (exit 75), as a failed
  // run commit does: the change is durable before the answer, or never answered.
  reactor::Task<Result<PutOutcome>> Put(std::string name, std::string source);
  // On shard 0. Errors: kNotFound. A failed commit ends the process, as for Put.
  reactor::Task<Status> Delete(std::string name);

 private:
  class DefinitionsSink;
  class RefreshSink;
  reactor::Task<void> Publish();
  // With stores other instances share: every second, the definitions they made
  // reach this registry, then each shard takes over what it can (shard 0).
  static reactor::Task<void> Maintain(Engine* self);
  // Spreads the partitions over the live members: reads them (shard 0's store) and
  // tells each shard which of its partitions this instance should hold now.
  reactor::Task<void> Rebalance();
  bool moves_ = false;                              // the store moves partitions between instances
  std::vector<store::Member> members_;              // as last read (shard 0)
  store::MemberDirectory* directory_ = nullptr;     // Redis heartbeats (SetMemberDirectory)
  uint64_t directory_seen_ = 0;                     // its changes() at the last round
  Nanos fast_until_ = 0;                            // rounds every 250 ms until then
  std::vector<std::vector<uint32_t>> wanted_;       // [shard] -> partitions this instance should hold
  Nanos members_logged_ = 0;
  Nanos members_failed_at_ = 0;  // the last round whose members read failed (0: none yet)
  reactor::TaskGroup maintain_;
  bool stopping_ = false;  // shard 0
  static reactor::Task<void> OpenHistoryInto(Engine* self, Status* out);
  static reactor::Task<void> RecoverShard(Engine* self, unsigned shard);
  static reactor::Task<void> ReplayShardInto(Engine* self, unsigned shard,
                                             std::shared_ptr<const Registry> reg, Status* out);

  EngineOptions options_;
  EngineMetrics metrics_;
  store::StoreFactory* stores_;
  std::vector<std::unique_ptr<Coordinator>> coordinators_;
  RemoteRuns remote_;  // SetRemoteRuns
  std::vector<unsigned> owner_;                  // [partition] -> shard
  std::vector<std::vector<uint32_t>> owned_;     // [shard] -> its partitions
  std::atomic<bool> ready_{false};
  // The partitions the shards hold, a bit each (Coordinator::ShareHeld), for the outbox relay.
  std::array<std::atomic<uint64_t>, kPartitions / 64> held_bits_{};
  std::vector<uint32_t> HeldPartitions() const;

  store::EventRelay* relay_ = nullptr;               // the store's outbox relay, if it has one (shard 0)
  store::EventBus* bus_ = nullptr;                   // events of other instances' runs (SetEventBus)
  store::HistoryStore* history_ = nullptr;           // finished runs (the store's), if it has one
  void DeliverOutbox(std::vector<store::OutboxRow>& rows);

  // Shard 0 only.
  Registry master_;
  std::unique_ptr<store::DefinitionLog> definitions_;
};

}  // namespace rf::engine
