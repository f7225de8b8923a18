#pragma once
// Coordinator: one per shard, the owner of the runs whose partitions the ring gives this shard.
// It holds their live state, turns commands and step results into Records (through Machine),
// appends them to the shard's journal, and acts on their effects only once they are durable: a
// step starts after the records that made it ready are on disk, a caller hears "created" after
// the creation is. Everything here runs on the shard's thread.
//
// One commit per loop turn: every mutation of a turn is appended to the journal at once and one
// flusher coroutine per turn awaits its durability, then dispatches the turn's effects (steps
// into the worker queues, timers, aborts, ?wait callers, SSE subscribers).

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/check.h"
#include "base/result.h"
#include "engine/breaker_table.h"
#include "engine/commands.h"
#include "engine/engine_metrics.h"
#include "engine/executor.h"
#include "engine/flow_control.h"
#include "engine/machine.h"
#include "engine/permit_table.h"
#include "engine/registry.h"
#include "fanout/subscriber.h"
#include "reactor/cancel_token.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "store/history_store.h"
#include "store/leadership.h"
#include "store/permit_share.h"
#include "store/store.h"
#include "trace/tracer.h"

namespace rf::engine {

class Coordinator {
 public:
  Coordinator(unsigned shard, const EngineOptions& options, HttpExecutor* http,
              EngineMetrics* metrics, std::unique_ptr<store::RunStore> store);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The coordinator of the calling shard (after Open).
  static Coordinator& Local();

  // Where finished runs go once their end is durable (before Open; outlives the coordinator);
  // without one they stay until retention (unit tests). `cache_bytes`: ours of --history-cache.
  void SetHistory(store::HistoryStore* h, size_t cache_bytes) {
    history_ = h;
    cache_limit_ = cache_bytes;
  }
  // On its shard: Replay, then Recover (the engine opens the history store between the two).
  reactor::Task<Status> Open(std::shared_ptr<const Registry> registry);
  reactor::Task<Status> Replay(std::shared_ptr<const Registry> registry);  // opens the journal
  void Recover();  // resumes live runs, queues finished ones' moves, arms timers
  reactor::Task<void> Close();
  void SetRegistry(std::shared_ptr<const Registry> r) { registry_ = std::move(r); }
  const Registry& registry() const { return *registry_; }
  bool failed() const { return failed_; }
  bool healthy() const { return store_->healthy(); }  // any thread
  bool moves_partitions() const { return store_->moves_partitions(); }
  // Where this shard marks the partitions it holds, one bit each, for the instance's outbox
  // relay (Engine::HeldPartitions); shards own disjoint partitions. Before Open.
  void ShareHeld(std::atomic<uint64_t>* bits) { held_bits_ = bits; }
  // Where the instance holding `partition` (one of this shard's) answers; see RunStore::HolderOf.
  reactor::Task<Result<std::string>> HolderOf(uint32_t partition) { return store_->HolderOf(partition); }

  // Commands. Errors: kNotFound, kConflict, kUnavailable (the journal failed,
  // or the run's partition is held by another instance or is moving).
  reactor::Task<Result<RunView>> Start(StartCommand cmd);
  // A partition this shard holds, for a start without a key (round robin);
  // nullopt while it holds none. Shard thread.
  std::optional<uint32_t> PickPartition();
  // Whether this shard holds `partition` now (its runs start here). Shard thread.
  bool Holds(uint32_t partition) const { return partition < held_.size() && held_[partition]; }
  // With a store whose partitions move between instances (the engine calls these every second,
  // after it refreshed the definitions; coordinator_partitions.cc): the live instances sharing the
  // store, and the partitions of this shard this instance should hold now: it hands the others over
  // and takes over what it can of these (free, or their holder died). Suspend.
  reactor::Task<Result<std::vector<store::Member>>> Members();
  reactor::Task<void> Rebalance(std::vector<uint32_t> wanted);
  // Runs not in memory are read from the history store. Suspends. `ns`: the namespace the caller
  // acts in; a run of another one is kNotFound, as if it did not exist ("": any).
  reactor::Task<Result<RunView>> Get(RunId id, std::string ns = {});
  bool InMemory(const RunId& id) const { return runs_.contains(id); }  // live, or cached
  reactor::Task<Result<RunView>> Cancel(RunId id, std::string ns = {});
  reactor::Task<Result<RunView>> Signal(RunId id, std::string name, json::Value payload,
                                        std::string ns = {});
  reactor::Task<Result<RunView>> Retry(RunId id, std::string ns = {});
  // The runs held in memory that history does not have (yet): live runs and finished ones not
  // moved. Engine::List merges history in.
  RunPage List(const RunQuery& q) const;
  // Of those, the ones a listing of failed runs must ask this shard about (failed, or back from
  // history by a retry); any thread reads it: while 0, history alone answers (WatchFailed).
  int64_t FailedListed() const { return failed_listed_.load(std::memory_order_acquire); }
  // One run of a listing as JSON (dead_letter: with its error and failed step).
  static std::string SummaryJson(const RunId& id, std::string_view workflow, int64_t version,
                                 RunStatus status, int64_t created_ms, int64_t finished_ms,
                                 std::string_view error, std::string_view failed_step, bool dead_letter);
  // History's part of a listing: summaries written as List writes them.
  static void AppendSummaries(const std::vector<store::HistoryRun>& runs, const RunQuery& q, RunPage& page);
  // Retention of the history store (one coordinator runs it: shard 0). `leader`: in a
  // cluster only while this daemon leads the job, its term fencing the store's deletes
  // (store/leadership.h); null: always (one daemon).
  void RunHistoryRetention(store::Leadership* leader = nullptr) {
    history_retention_ = true;
    leader_ = leader;
  }
  // This shard's tracer (before Open; must outlive the coordinator). Null: no spans, and http
  // steps pass on the caller's sampled flag only.
  void SetTracer(trace::Tracer* t) { tracer_ = t; }

  // Live events. Subscribe sends the history after `after_seq` first (from the
  // run's log, or from the store's outbox when it relays events), then every
  // new event in order; the subscriber gets end=true with the terminal event.
  // Suspends only with a relaying store. Errors: kNotFound, the store's.
  reactor::Task<Status> Subscribe(RunId id, uint64_t after_seq, std::shared_ptr<fanout::Subscriber> s,
                                  std::string ns = {});
  void SubscribeWorkflow(std::string workflow, std::shared_ptr<fanout::Subscriber> s);
  // The relay's delivery of outbox rows of runs this shard owns (the ring of shards), from
  // this instance's relay or, with remote streams, from the others' (the cluster's bus).
  void DeliverOutbox(const std::vector<store::OutboxRow>& rows);
  // Event streams of runs another instance holds are served here too: their history from
  // the store, then what the bus delivers (Engine::SetEventBus). Before Open.
  void EnableRemoteStreams() { remote_streams_ = true; }

  size_t run_count() const { return runs_.size(); }
  // This shard's circuit breakers (GET /v1/breakers); shard thread.
  std::vector<BreakerView> Breakers() const;
  // This shard's concurrency keys of `workflow` (qualified; empty: every workflow) with live or
  // queued runs, at most `max`, busiest first (GET /v1/workflows/{name}/concurrency); shard thread.
  std::vector<FlowKeyView> FlowKeys(const std::string& workflow, size_t max) const;
  // The step concurrency ids homed on this shard whose scope is one of `scopes` (all when
  // empty), at most `max`, busiest first; shard thread.
  std::vector<PermitKeyView> PermitKeys(const std::vector<std::string>& scopes, size_t max) const {
    return permits_.Views(scopes, max, shard_);
  }
  // Every shard's coordinator, by shard, and the shard owning each partition (before Open; both
  // outlive the coordinator): where step permits are asked for, and where a child run on another
  // shard's partition is started, told of its parent's end and checked for an orphan.
  void SetPeers(std::vector<Coordinator*> peers, const std::vector<unsigned>* owner) {
    peers_ = std::move(peers);
    owner_ = owner;
  }
  // Before Open: step concurrency permits homed here are leases of the cluster's (null: this
  // instance's alone); `members` (live instances) splits a limit while Redis is away. Both
  // outlive the coordinator. Open starts the share, Close closes it.
  void SetPermitShare(store::PermitShare* share, const obs::Gauge* members);
  // Where requests about runs another daemon holds go (Engine::SetRemoteRuns); outlives this.
  void SetRemoteRuns(const RemoteRuns* remote) { remote_ = remote; }
  // After every shard's Open: the live child runs recovered here whose parent lives on another
  // shard are cancelled if that parent is not live (CancelOrphan asked only this shard). Suspends.
  reactor::Task<void> CheckRemoteOrphans();

 private:
  struct Waiter;
  struct Entry {
    Run run;
    std::string log;  // every durable record: [u32 len][EncodeRecord] ...
    uint32_t records = 0;  // in the log
    uint64_t created_lsn = 0;
    uint32_t pending = 0;  // batches not yet durable that touch this run
    bool terminal_durable = false;
    bool compact = false;  // finished: only the summary fields of `run` are kept (see Compact)
    bool moved = false;    // the history store has it: cached, may leave memory
    bool restored = false; // came back from history by a retry: history may hold an older copy
    bool fresh = false;    // started by this process (not replayed): history cannot hold it
    bool failed_listed = false;  // counted in failed_listed_
    Entry* lru_prev = nullptr;  // the cache's LRU list, oldest first (moved entries only)
    Entry* lru_next = nullptr;
    size_t cached_bytes = 0;
    uint32_t pins = 0;  // commands holding the entry across a suspension (Pin)
    // Quarantined at start (see ReplayRecord): the position in `log` of the record that could
    // not be replayed, from 1; 0: not quarantined. The run reads as failed and stays unchanged.
    uint32_t quarantined_at = 0;
    // Flow control (coordinator_flow.cc): the gate it is counted under (workflow '\n' key; empty:
    // the workflow has no concurrency limit) and whether it holds one of the gate's slots
    // (started) or waits in its queue.
    std::string gate;
    bool gate_live = false;
    uint32_t permit_waits = 0;  // its attempts waiting for a step permit (coordinator_permits.cc)
    Waiter* waiters = nullptr;
    struct Sub {
      std::shared_ptr<fanout::Subscriber> to;
      uint64_t seen = 0;   // the last event number sent
      bool ready = true;   // false while its history is being read
      // Events not yet sendable: ahead of a gap (the outbox may commit or
      // relay a run's rows out of order) or arrived during the history read.
      std::map<uint64_t, std::pair<fanout::Chunk, bool>> held;  // seq -> frame, terminal
      bool done = false;
    };
    std::vector<Sub> subscribers;
    struct InFlight {
      uint32_t step;
      size_t attempt;
      reactor::CancelToken* cancel;
    };
    std::vector<InFlight> in_flight;
  };
  // Keeps an entry in memory while a command awaits something (no eviction).
  struct Pin {
    explicit Pin(Entry* e) : e_(e) { ++e_->pins; }
    ~Pin() { --e_->pins; }
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    Entry* e_;
  };
  struct After {
    Entry* entry;
    Effects effects;
    std::vector<Event> events;
    bool finished;  // this batch finished the run
  };
  static constexpr uint32_t kNoItem = UINT32_MAX;
  struct WorkItem {
    Entry* entry;
    uint32_t step;
    uint32_t attempt;
    Nanos ready_at;
    uint32_t item = kNoItem;  // a map step's item (coordinator_map.cc)
    uint32_t item_try = 1;    // an http item's call: 1 the first, memory only
    uint64_t permit = 0;      // the ticket of the step permit it holds (0: none)
  };
  // What a call that passed its circuit breaker reports its outcome with.
  struct BreakerTicket {
    std::string id;  // BreakerTable::Id; empty: the step has no breaker
    bool probe = false;
  };
  enum class Gate : uint8_t { kPass, kFailed, kParked };
  class ReplayInto;
  class TerminalWait;

  static void SetLocal(Coordinator* c);
  int64_t NowMs() const;
  Entry* Find(const RunId& id);
  bool WantEvents(const Entry& e) const;
  // Appends what `m` recorded and queues its effects for the turn's commit.
  void Persist(Entry& e, std::vector<Record>& records, Machine& m, std::vector<Event>& events,
               RunStatus before);
  template <class F>
  auto Mutate(Entry& e, F&& fn);
  reactor::Task<Result<RunView>> Command(RunId id, int kind, std::string name, json::Value payload,
                                         std::string ns);
  RunView View(const Entry& e, bool created) const;
  // The run from memory, or loaded from history into the cache. A run loaded
  // from history is compacted unless `full` (the caller views it once, then
  // compacts it: one decode of its log instead of two). Suspends.
  reactor::Task<Result<Entry*>> Load(RunId id, bool full = false);
  // A retry of a run that history holds: it becomes live again; its log is
  // written to the journal again so a replay finds the whole run.
  Status Restore(Entry& e);
  void Compact(Entry& e);
  Result<Run> Rebuild(const Entry& e) const;  // the whole run, from its log
  Status Expand(Entry& e);                    // undoes Compact

  void WakeWaiter(Entry& e, Waiter* w);
  void ScheduleFlush();
  static reactor::Task<void> Flusher(Coordinator* self);
  void Dispatch(After& a);
  struct Frame {
    uint64_t seq;
    int64_t at_ms;
    bool terminal;     // run.succeeded, run.failed or run.cancelled
    fanout::Chunk text;  // the SSE frame, shared by every subscriber
  };
  // An outbox row's events (objects without "run") -> frames after `after_seq`.
  static Status FramesOf(const RunId& run, std::string_view events_json, uint64_t after_seq,
                         std::vector<Frame>& out);
  Status SubscribeFromLog(Entry& e, uint64_t after_seq, std::shared_ptr<fanout::Subscriber> s);
  void Publish(Entry& e, const std::vector<Event>& events, bool finished);
  // Hands `frames` (one run's, in order) to its subscribers, each in event order without gaps;
  // drops the subscribers that ended. `finished`: the run's end is durable (embedded store); a
  // relaying store ends a subscriber at the terminal event instead.
  void Offer(Entry& e, const std::vector<Frame>& frames, bool finished);
  void OfferTo(std::vector<Entry::Sub>& subs, const std::vector<Frame>& frames, bool finished);
  // Sends `sub` what it holds without a gap. True: the stream ended.
  bool Flush(Entry::Sub& sub, bool finished) const;
  void PublishWorkflow(const std::string& workflow, const std::vector<Frame>& frames);
  void Fail(const Error& e);

  // Workers.
  double NextUnit();  // a uniform draw in [0, 1) for a retry's jitter (xorshift on rng_)
  void Enqueue(Entry& e, uint32_t step);
  void PumpNow();  // runs queued steps, weighted by priority, within a per-call budget
  std::deque<WorkItem>* Pick(size_t priority);  // the queue to take from, or null
  void SchedulePump();
  static reactor::Task<void> PumpLater(Coordinator* self);
  void Execute(const WorkItem& w);
  void RunPure(Entry& e, uint32_t step, uint32_t attempt, Nanos started);  // noop, transform
  static reactor::Task<void> RunHttp(Coordinator* self, Entry* e, uint32_t step, uint32_t attempt,
                                     HttpCall call, BreakerTicket ticket, uint64_t permit);
  // One call of a run's step (or map item): registered in the entry's in-flight calls (the
  // run's end aborts it), its secrets redacted from the answer, its slot and duration counted.
  // `cancelled`: the run ended (or the daemon closed) while it was on its way.
  static reactor::Task<HttpResult> CallTracked(Coordinator* self, Entry* e, uint32_t step,
                                               uint32_t attempt, HttpCall call, bool& cancelled);
  // Errors: a {{secrets.NAME}} that cannot be read (the step then fails, not retried).
  // `item`: a map step's http item (its request, the item as `input`).
  Result<HttpCall> RenderHttp(const Entry& e, uint32_t step, uint32_t attempt,
                              uint32_t item = kNoItem) const;
  // An http attempt that ended without an output (its secrets already redacted from `error`):
  // the machine records it and decides about a retry.
  void FailHttp(Entry& e, uint32_t step, uint32_t attempt, std::string error, bool retryable);

  // Workflow steps (coordinator_children.cc). A child run lives on its parent's partition,
  // except a child of a flow-controlled workflow: it lives on its key's partition
  // (ChildPartition), maybe another shard's, which its start, its end and its cancellation reach
  // by message, or another daemon's, reached through the API (coordinator_remote_children.cc).
  // `item`: a map step's workflow item (kNoItem: a workflow step).
  static reactor::Task<void> RunChild(Coordinator* self, Entry* e, uint32_t step, uint32_t attempt,
                                      uint32_t item = kNoItem);
  uint32_t ChildPartition(const Run& parent, uint32_t step, uint32_t item, const Definition& def,
                          const json::Value& input) const;
  unsigned ShardOf(uint32_t partition) const {
    return owner_ && partition < owner_->size() ? (*owner_)[partition] : shard_;
  }
  // On the child's shard: Start once that shard is open.
  static reactor::Task<Result<RunView>> StartChildHere(Coordinator* self, StartCommand cmd);
  // A child's start on its partition's shard, or on the daemon holding it
  // (coordinator_remote_children.cc). `version`: the step's pinned one (0: the latest).
  static reactor::Task<Result<RunView>> StartChild(Coordinator* self, Entry* e, uint32_t step,
                                                   uint32_t attempt, uint32_t item, StartCommand cmd,
                                                   int64_t version, std::string workflow);
  // Whether the parent still waits for this attempt's (or item's) child.
  bool ChildAttemptLive(const Entry& e, uint32_t step, uint32_t attempt, uint32_t item) const;
  // A child on another daemon: looked at until it ends (or the attempt no longer waits).
  static reactor::Task<void> WatchChild(Coordinator* self, RunId parent, uint32_t step, uint32_t attempt,
                                        uint32_t item, std::string child);
  // A run from its shard here, or from the daemon holding it. Suspends.
  reactor::Task<Result<RunView>> LookAtRun(RunId id, std::string ns);
  // The step (or item) takes the end of the child `json` (a RunView's) shows, if it ended.
  void FinishFromView(Entry& parent, uint32_t step, uint32_t attempt, const std::string& child,
                      std::string_view json, uint32_t item);
  static reactor::Task<void> RemoteCancel(Coordinator* self, RunId child, std::string ns);
  // A child run's end is durable: its parent's step gets the child's output or failure, on the
  // parent's shard.
  void ChildEnded(const Entry& child);
  struct ChildEnd;
  void TakeChildEnd(const ChildEnd& end);
  static void OnChildEndMsg(void* p);
  // A run's end is durable: its children still live are cancelled.
  void CancelChildren(const Entry& parent);
  // A live child run by id: cancelled, on its shard (or its daemon). `ns`: its namespace.
  void CancelChild(const std::string& child, std::string_view ns);
  void CancelChildHere(const RunId& child, std::string_view ns);
  static void OnCancelChildMsg(void* p);
  // A live child whose parent is no longer live (after a restart): cancelled. True if so. A
  // parent on another shard is asked after every shard opened (CheckRemoteOrphans).
  bool CancelOrphan(Entry& child);
  static std::vector<char> LiveRuns(Coordinator* self, std::vector<RunId> ids);
  void FinishFromChild(Entry& parent, uint32_t step, uint32_t attempt, std::string_view child,
                       RunStatus status, json::Value output, std::string_view error,
                       uint32_t item = kNoItem);
  void FailChild(Entry& parent, uint32_t step, uint32_t attempt, std::string error,
                 uint32_t item = kNoItem);

  // Map steps (coordinator_map.cc): an item marked in flight is queued once that is durable, and
  // run inline (noop, transform) or as a child run (workflow).
  void EnqueueItem(Entry& e, const MapItemRef& ref);
  void ExecuteItem(const WorkItem& w);
  // Whether an http call that did not succeed may be tried again under `policy` (http steps and
  // map items alike): 5xx, the 4xx its on_status names, transport errors other than a bad URL or
  // an egress denial.
  static bool RetryableHttp(const HttpResult& r, const RetryPolicy& policy);
  static reactor::Task<void> RunItemHttp(Coordinator* self, Entry* e, uint32_t step,
                                         uint32_t attempt, uint32_t item, uint32_t item_try,
                                         HttpCall call);
  // An http item whose call failed and may be tried again: queued again at `wake_at` if its run
  // is still here and the item still in flight. Not pinned: a run that ends or moves meanwhile
  // drops it (the next holder runs in-flight items again).
  void RetryItemLater(const Entry& e, uint32_t step, uint32_t attempt, uint32_t item,
                      uint32_t next_try, Nanos wake_at);
  static void OnItemRetryTimer(reactor::Shard::TimerNode* n);
  // A live map item (the run live, the attempt current, the item in flight), or nullptr.
  const json::Value* LiveItem(const Entry& e, uint32_t step, uint32_t attempt, uint32_t item) const;

  // Circuit breakers (coordinator_breakers.cc). A call passes its step's breaker before it takes an
  // http slot: kPass (with the ticket to report the outcome on), kFailed (the attempt failed:
  // "circuit open for <key>") or kParked (when_open delay: the item waits in parked_, still counted
  // in its entry's `pending`, and is queued again when the breaker may let it through).
  Gate PassBreaker(const WorkItem& w, const Step& s, const std::string& url, BreakerTicket& ticket);
  std::string BreakerKey(const Entry& e, const Step& s, const std::string& url) const;
  void RecordBreaker(const BreakerTicket& t, const HttpResult& r, bool cancelled);
  void Park(const std::string& id, const WorkItem& w, Nanos wake_at);
  void WakeParked(const std::string& id);
  void ArmParkTimer();
  static void OnParkTimer(reactor::Shard::TimerNode* n);
  void DropParkedOfReleasing();

  // Step-level concurrency limits (coordinator_permits.cc). An http step with "concurrency"
  // asks the home shard of its (scope, key) for a permit before its call (AskPermit: the work
  // item waits in permit_waits_, counted in its entry's `pending`); once granted it is queued
  // again holding the permit (WorkItem::permit) and releases it when the attempt ends, however
  // it ends. A run that ends (or moves) while waiting drops its place (CancelPermitWaits).
  struct PermitMsg;
  enum class PermitOp : uint8_t { kAcquire, kRelease, kCancel, kGranted, kRefused };
  struct PermitWait {
    WorkItem w;
    std::string id;
    unsigned home;
  };
  struct HeldPermit {
    std::string id;
    unsigned home;
  };
  void AskPermit(const WorkItem& w, const Step& s);
  void ReleasePermit(uint64_t ticket);  // 0: none held
  void CancelPermitWaits(Entry& e);
  void DropPermitWaitsOfReleasing();
  void SendPermit(unsigned to, PermitOp op, const std::string& id, int64_t limit, PermitWaiter who);
  static void OnPermitMsg(void* p);
  void HandlePermit(PermitOp op, const std::string& id, int64_t limit, PermitWaiter who);
  void PermitGranted(const std::string& id, PermitWaiter who);
  void PermitRefused(PermitWaiter who);
  // The cluster's side of the permits homed here (coordinator_permit_share.cc).
  struct SharedId {
    std::vector<std::string> leases;  // the cluster's, one per permit in use
    std::vector<std::string> loose;   // permits in use granted while Redis was away (not in it)
    bool asking = false;              // an AskLease in flight
    bool in_line = false;             // told to wait: this holder stands in the id's line
    Nanos retry_at = 0;               // a poll is due (share_polls_)
  };
  void StartPermitShare();
  void ClosePermitShare();
  void AskShare(const std::string& id, bool from_poll);
  static reactor::Task<void> AskLease(Coordinator* self, std::string id, std::string give_back);
  static reactor::Task<void> GiveBack(Coordinator* self, std::string id, std::string lease,
                                      bool leave_line);
  static reactor::Task<void> RenewLeases(Coordinator* self, std::string id,
                                         std::vector<std::string> leases, bool loose);
  static reactor::Task<Status> RegisterLoose(Coordinator* self, std::string id);
  void Registered(const std::string& id, const std::vector<std::string>& names);
  void PermitReleasedShared(const std::string& id);
  void MaybeForget(std::unordered_map<std::string, SharedId>::iterator it);
  void ArmSharePoll();
  static void OnSharePollTimer(reactor::Shard::TimerNode* n);
  static void OnShareRenewTimer(reactor::Shard::TimerNode* n);
  void PermitsChanged();  // the home table changed: gauges now, the busiest ids within a second
  static void OnPermitTimer(reactor::Shard::TimerNode* n);

  // Flow control per key (coordinator_flow.cc). A gate: the live runs of one (workflow, key)
  // and the queued ones in creation order. Gates live only on the shard holding the key's
  // partition; empty ones are dropped, so there are at most as many as live runs.
  struct FlowGate {
    int64_t live = 0;
    int64_t limit = 0;  // the newest started version's (a new version may change it)
    std::deque<Entry*> queued;
    // rate_limit: a token bucket (rate 0: none). In memory only: a restart starts it full.
    double rate = 0;
    double burst = 0;
    double tokens = 0;
    Nanos refilled = 0;
    Nanos wake_at = 0;  // a flow_wakeups_ entry is due then (0: none)
    // debounce: the last start, queued until `held_due` passes without a newer one.
    Entry* held = nullptr;
    Nanos held_due = 0;
  };
  // A new run of a debounced workflow: it replaces (cancels) the one held for its key.
  void HoldDebounced(Entry& e, Nanos due);
  // The entry's gate, made if need be, with the entry's version's limits (the newest decide).
  FlowGate& GateOf(Entry& e);
  // Drops the gate when nothing waits and nothing more is to be remembered (a full bucket).
  void MaybeDropGate(std::unordered_map<std::string, FlowGate>::iterator it);
  void WakeGateAt(const std::string& id, FlowGate& g, Nanos at);
  void ArmFlowTimer();
  static void OnFlowTimer(reactor::Shard::TimerNode* n);
  // A new run: true when it may start now (it took a slot); false: it is queued.
  bool AdmitFlow(Entry& e);
  // A run ended durably or left memory: frees its slot (or its queue place) and starts the
  // next queued runs of its key.
  void LeaveFlow(Entry& e);
  void ForgetFlow(Entry& e);  // the same without starting others (the run leaves memory)
  void ReleaseFlow(const std::string& gate);
  // After a replay: counts the loaded live runs per key and queues the queued ones in creation
  // (id) order, then starts those the limit lets through.
  void LoadFlow(Entry& e);
  void SettleFlow();

  // Durable timers: due times come from records; this is their in-memory index.
  void AddTimer(Entry& e, const Timer& t);
  void RearmTimer();
  static void OnTimer(reactor::Shard::TimerNode* n);

  // Moving finished runs into history and the cache of moved ones (coordinator_history.cc).
  void QueueMove(Entry& e);
  void WakeMoveWaiters();
  static reactor::Task<void> Mover(Coordinator* self);
  static reactor::Task<void> ExpireHistory(Coordinator* self, int64_t term);
  // Starts a retention pass of the history store unless one is under way or another daemon leads it.
  void MaybeExpireHistory();
  // Shard 0, a history store whose byte totals are read, not pushed (PostgreSQL): the
  // cadence of those reads (coordinator_history.cc, OnBytesTimer).
  static constexpr Nanos kBytesRefresh = 2 * kSeconds;
  static constexpr Nanos kBytesRefreshGauge = 30 * kSeconds;
  static void OnBytesTimer(reactor::Shard::TimerNode* n);
  static reactor::Task<void> RefreshHistoryBytes(Coordinator* self);
  void MaybeRefreshBytes();
  void CacheInsert(Entry& e);
  void LruPush(Entry& e);
  void Touch(Entry& e);
  void LruUnlink(Entry& e);
  void EvictCache();
  void ScheduleEvict();
  static reactor::Task<void> EvictLater(Coordinator* self);
  bool Evictable(const Entry& e) const;
  // Drops the run from memory (retention, eviction); returns the next entry.
  std::map<RunId, std::unique_ptr<Entry>>::iterator Drop(std::map<RunId, std::unique_ptr<Entry>>::iterator it);

  // Partitions (coordinator_partitions.cc): a shard serves those its store holds, less handed-over.
  Status CheckHeld(uint32_t partition) const;
  void SetHeld(const std::vector<uint32_t>& partitions);
  bool Releasing(const Entry& e) const;  // its partition is being handed over
  reactor::Task<void> TakeOver(std::vector<uint32_t> wanted);  // coordinator_store.cc (the replay)
  static reactor::Task<void> Release(Coordinator* self, std::vector<uint32_t> partitions);
  void DropQueuedOfReleasing();
  // After a replay (Open, TakeOver): resumes a loaded live run, or queues a
  // finished one's move; arms the timers the store kept apart.
  void ResumeLoaded(Entry& e, size_t& resumed);
  void ArmLoadedTimers();

  // Snapshots and retention.
  void MaybeSnapshot();
  static reactor::Task<void> WriteSnapshot(Coordinator* self);
  Nanos RetentionPeriod() const;
  static void OnRetention(reactor::Shard::TimerNode* n);
  void RemoveExpired();
  Status LoadSnapshot(std::string_view bytes);
  // Applies one stored record. A record that cannot be applied (undecodable, a missing
  // workflow version, before its run's creation) quarantines its run instead of failing the
  // start; one that names no readable run is counted and skipped.
  Status ReplayRecord(std::string_view payload);
  void Quarantine(const RunId& id, Entry* e, std::string_view payload, std::string reason,
                  std::string_view workflow = {}, int64_t version = 0);
  static Record QuarantineRecord(const Entry& e);  // the in-memory end of a quarantined run
  void ForgetMoved(const RunId& id);  // replay: history has it
  static const size_t kMaxPendingMoves;
  static const Nanos kMoveWaitLimit;

  const unsigned shard_;
  const EngineOptions options_;
  HttpExecutor* http_;
  trace::Tracer* tracer_ = nullptr;
  ShardEngineStats* stats_;
  NamespaceUsage* usage_;  // the engine's, shared by every shard (atomics)
  // A run became live (+1) or stopped being live here (-1): the shard's gauge and its
  // namespace's count (the live-runs quota).
  void CountLive(const Run& run, int64_t delta);
  std::shared_ptr<const Registry> registry_;
  std::unique_ptr<store::RunStore> store_;
  bool failed_ = false;
  bool closing_ = false;

  std::map<RunId, std::unique_ptr<Entry>> runs_;  // ordered: ids are time-ordered
  std::set<RunId> listed_;  // runs history does not have: live, and finished not yet moved
  std::atomic<int64_t> failed_listed_{0};  // entries of listed_ with failed_listed (FailedListed)
  void WatchFailed(Entry& e);  // after e's status or `restored` changed
  void Unlist(Entry& e);       // e leaves listed_

  store::HistoryStore* history_ = nullptr;
  std::deque<std::pair<RunId, uint32_t>> to_move_;  // finished runs (and their record count) to move
  std::vector<std::coroutine_handle<>> move_waiters_;  // starts held back while to_move_ is full
  Nanos last_move_write_ = 0;  // when the mover last began a history write (it paces them)
  class MoveProgress;
  bool moving_ = false;
  bool history_retention_ = false;
  store::Leadership* leader_ = nullptr;  // history retention's election (RunHistoryRetention)
  bool expiring_ = false;
  bool refreshing_bytes_ = false;
  bool bytes_failing_ = false;  // logged once until a refresh works again
  Nanos bytes_took_ = 0;        // how long the last refresh took
  Entry* lru_head_ = nullptr;  // least recently used cached run
  Entry* lru_tail_ = nullptr;
  size_t cache_bytes_ = 0;
  size_t cache_limit_ = 0;  // this shard's part of --history-cache
  bool evict_scheduled_ = false;
  std::unordered_map<std::string, Entry*> idempotency_;  // workflow '\n' key
  struct WorkflowSub {
    std::shared_ptr<fanout::Subscriber> to;
    int64_t since_ms;  // relayed events that happened before the subscription are not sent
  };
  std::multimap<std::string, WorkflowSub, std::less<>> workflow_subs_;
  std::vector<std::shared_ptr<fanout::Subscriber>> publish_scratch_;  // PublishWorkflow's, reused
  // Streams of runs held by another instance (remote streams), fed by DeliverOutbox.
  bool remote_streams_ = false;
  std::unordered_map<RunId, std::vector<Entry::Sub>, store::RunIdHash> remote_subs_;
  reactor::Task<Status> SubscribeRemote(RunId id, uint64_t after_seq, std::shared_ptr<fanout::Subscriber> s,
                                        std::string ns);

  std::vector<After> after_;
  std::vector<After> spare_after_;  // the last batch's vector, reused for its capacity
  bool flush_scheduled_ = false;
  std::vector<Record> records_;  // Mutate's scratch
  std::vector<Event> events_;
  bool mutating_ = false;

  std::deque<WorkItem> queues_[3][2];  // [priority][0 inline, 1 http]
  int credits_[3] = {0, 0, 0};
  size_t http_in_flight_ = 0;
  bool pump_scheduled_ = false;

  BreakerTable breakers_;
  std::vector<Coordinator*> peers_;  // every shard's coordinator (SetPeers); empty: this one only
  const std::vector<unsigned>* owner_ = nullptr;  // [partition] -> shard (SetPeers); null: this one
  const RemoteRuns* remote_ = nullptr;  // SetRemoteRuns; null or empty: no other daemon is reached
  bool opened_ = false;  // Open finished: a child started here from another shard may be created
  std::vector<RunId> remote_orphan_checks_;  // live children whose parent is on another shard
  PermitTable permits_;              // the step permits homed here
  std::unordered_map<uint64_t, PermitWait> permit_waits_;  // ticket -> this shard's waiting attempt
  std::unordered_map<uint64_t, HeldPermit> permits_held_;  // ticket -> a permit this shard holds
  uint64_t next_ticket_ = 0;
  std::vector<PermitWaiter> granted_scratch_;
  bool permit_top_due_ = false;  // permit_node_ is armed to publish the busiest ids
  store::PermitShare* share_ = nullptr;  // SetPermitShare; null: permits are this instance's
  const obs::Gauge* members_ = nullptr;
  std::unordered_map<std::string, SharedId> shared_;  // ids with leases, asks or a place in line
  std::multimap<Nanos, std::string> share_polls_;     // monotonic time -> id to ask again
  uint64_t next_lease_ = 0;
  bool share_down_ = false;  // the last ask failed (logged once per outage)
  bool share_poll_armed_ = false, share_renew_armed_ = false;
  Nanos share_poll_at_ = 0;
  std::unordered_map<std::string, FlowGate> gates_;
  std::vector<Entry*> loaded_queued_;  // LoadFlow -> SettleFlow
  std::multimap<Nanos, std::string> flow_wakeups_;  // monotonic time -> gate (rate_limit)
  std::unordered_map<std::string, std::vector<WorkItem>> parked_;  // breaker id -> waiting steps
  std::multimap<Nanos, std::string> park_wakeups_;  // monotonic time -> breaker id
  struct ItemRetry {
    RunId run;
    uint32_t step, attempt, item, item_try;
  };
  // Bounded by the http items in flight (each map's concurrency): one entry per waiting item.
  std::multimap<Nanos, ItemRetry> item_retries_;  // monotonic time -> http item to call again

  struct TimerRef {
    RunId run;
    uint32_t step;
  };
  std::multimap<int64_t, TimerRef> timers_;
  struct TimerNode : reactor::Shard::TimerNode {
    Coordinator* self;
  };
  TimerNode timer_node_;
  TimerNode retention_node_;
  TimerNode bytes_node_;
  TimerNode park_node_;
  TimerNode flow_node_;
  TimerNode permit_node_;
  TimerNode share_poll_node_;
  TimerNode share_renew_node_;
  TimerNode item_retry_node_;
  std::vector<bool> held_;             // [partition]: this shard has its runs
  std::vector<uint32_t> held_list_;    // the same, for starts to pick from
  std::vector<bool> releasing_;        // [partition]: being handed over (Release)
  std::atomic<uint64_t>* held_bits_ = nullptr;  // kPartitions bits, the instance's (ShareHeld)
  size_t pick_ = 0;

  struct LoadedTimer {
    RunId run;
    uint32_t step;
    int64_t due_ms;
  };
  std::vector<LoadedTimer> loaded_timers_;  // from the store at Open or TakeOver (loads_timers())

  uint64_t journal_bytes_since_snapshot_ = 0;
  uint64_t last_snapshot_bytes_ = 0;
  bool snapshot_busy_ = false;
  uint64_t rng_;
  reactor::TaskGroup tasks_;
};

// Runs `fn(machine)` on the entry's run; what it records is persisted for this turn's commit.
template <class F>
auto Coordinator::Mutate(Entry& e, F&& fn) {
  // The scratch vectors keep their capacity across calls: a mutation allocates
  // only what it stores. `fn` must not mutate another run (no nesting).
  RF_CHECK(!mutating_);
  mutating_ = true;
  records_.clear();
  events_.clear();
  RunStatus before = e.run.status;
  Machine m(e.run, NowMs(), records_, WantEvents(e) ? &events_ : nullptr);
  auto result = fn(m);
  Persist(e, records_, m, events_, before);
  mutating_ = false;
  return result;
}

}  // namespace rf::engine
