// Commands, persistence and the per-turn commit. Workers and timers are in
// coordinator_work.cc, replay, snapshots and retention in coordinator_store.cc.

#include "engine/coordinator.h"

#include <unistd.h>

#include <cstring>

#include "base/hash_ring.h"
#include "base/tenancy.h"
#include "engine/run_row.h"
#include "engine/run_trace.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "obs/log.h"
#include "store/run_log.h"

namespace rf::engine {
namespace {
thread_local Coordinator* t_local = nullptr;
}  // namespace

// A ?wait caller: resumed when the run's end is durable, or at its deadline.
struct Coordinator::Waiter : reactor::Shard::TimerNode {
  std::coroutine_handle<> handle;
  Entry* entry = nullptr;
  Waiter* next = nullptr;
  std::string json;  // the finished run, set when woken by its end
};

Coordinator::Coordinator(unsigned shard, const EngineOptions& options, HttpExecutor* http,
                         EngineMetrics* metrics, std::unique_ptr<store::RunStore> store)
    : shard_(shard),
      options_(options),
      http_(http),
      stats_(&metrics->shards[shard]),
      usage_(&metrics->namespaces),
      store_(std::move(store)),
      breakers_(options.max_breakers, &stats_->breakers),
      permits_(options.max_permit_waiters),
      rng_(Mix64(static_cast<uint64_t>(MonoNow()) ^ (uint64_t{shard} << 32))) {
  timer_node_.fire = &Coordinator::OnTimer;
  timer_node_.self = this;
  park_node_.fire = &Coordinator::OnParkTimer;
  park_node_.self = this;
  flow_node_.fire = &Coordinator::OnFlowTimer;
  flow_node_.self = this;
  permit_node_.fire = &Coordinator::OnPermitTimer;
  permit_node_.self = this;
  item_retry_node_.fire = &Coordinator::OnItemRetryTimer;
  item_retry_node_.self = this;
  releasing_.assign(kPartitions, false);
}

void Coordinator::CountLive(const Run& run, int64_t delta) {
  stats_->runs_active.Add(delta);
  usage_->AddLive(SplitQualified(run.def->name).ns, delta);
}

Coordinator::~Coordinator() {
  if (t_local == this) t_local = nullptr;
}

Coordinator& Coordinator::Local() {
  RF_CHECK(t_local != nullptr);
  return *t_local;
}

void Coordinator::SetLocal(Coordinator* c) { t_local = c; }

int64_t Coordinator::NowMs() const { return WallNow() / kMillis; }

Coordinator::Entry* Coordinator::Find(const RunId& id) {
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second.get();
}

bool Coordinator::WantEvents(const Entry& e) const {
  return store_->wants_events() || !e.subscribers.empty() || workflow_subs_.find(e.run.def->name) != workflow_subs_.end();
}

void Coordinator::Persist(Entry& e, std::vector<Record>& records, Machine& m,
                          std::vector<Event>& events, RunStatus before) {
  thread_local Buffer encoded;
  thread_local RowText text;
  const bool rows = store_->wants_rows();
  for (const Record& r : records) {
    encoded.Clear();
    EncodeRecord(r, &e.run, encoded);
    std::string_view payload = encoded.view();
    store::AppendToLog(e.log, payload);
    const bool created = r.type == RecordType::kRunCreated;
    store::RunRow row = MakeRunRow(e.run, rows, created, text);
    row.log_bytes = static_cast<int64_t>(e.log.size());  // history bytes (quota), PostgreSQL
    store_->Append(row, MakeAppended(e.run, r, ++e.records, payload));
    journal_bytes_since_snapshot_ += payload.size() + store_->record_overhead();
    if (r.type == RecordType::kStepSkipped)
      stats_->steps[static_cast<size_t>(e.run.def->steps[r.step].type)][3].Add();
    if (r.type == RecordType::kMapItemSucceeded) stats_->map_items[0].Add();
    if (r.type == RecordType::kMapItemFailed) stats_->map_items[1].Add();
    if ((r.type == RecordType::kStepSucceeded || r.type == RecordType::kStepFailed) &&
        r.step < e.run.def->steps.size() && e.run.def->steps[r.step].type == StepType::kMap)
      stats_->steps[static_cast<size_t>(StepType::kMap)][r.type == RecordType::kStepFailed].Add();
    if (tracer_ && tracer_->enabled()) RecordSpans(*tracer_, e.run, r);
  }
  if (!events.empty() && store_->wants_events()) {
    const store::RunRow row = MakeRunRow(e.run, rows, false, text);
    for (const Event& ev : events)
      store_->AppendEvent(row, ev.seq, ev.at_ms, json::ToString(EventToJsonInRun(ev)));
  }
  const bool finished = !IsTerminal(before) && IsTerminal(e.run.status);
  WatchFailed(e);
  const Effects& fx = m.effects();
  if (records.empty() && fx.execute.empty() && fx.timers.empty() && fx.abort.empty() &&
      fx.items.empty())
    return;
  if (IsTerminal(before) && !IsTerminal(e.run.status)) {  // resumed by a retry
    e.terminal_durable = false;
    CountLive(e.run, 1);
    // A retry is not held back: it takes a slot of its key at once, over the limit if need be.
    if (e.run.def->flow_controlled()) {
      e.gate = FlowGateId(e.run.def->name, FlowKey(*e.run.def, e.run.input));
      FlowGate& g = GateOf(e);
      ++g.live;
      e.gate_live = true;
    }
  }
  ++e.pending;
  after_.push_back(After{&e, std::move(m.effects()), {}, finished});
  if (!events.empty()) after_.back().events = std::move(events);
  ScheduleFlush();
}

void Coordinator::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  reactor::Spawn(Flusher(this), &tasks_);
}

// One per turn with mutations: everything appended until it starts is in its batch.
reactor::Task<void> Coordinator::Flusher(Coordinator* self) {
  self->flush_scheduled_ = false;
  std::vector<After> batch = std::move(self->spare_after_);
  batch.clear();
  batch.swap(self->after_);
  Status st = co_await self->store_->Durable(self->store_->last_ticket());  // suspends
  if (!st) {
    self->Fail(st.error());
    co_return;
  }
  for (After& a : batch) self->Dispatch(a);
  batch.clear();
  if (batch.capacity() > self->spare_after_.capacity()) self->spare_after_ = std::move(batch);
  self->PumpNow();
  self->MaybeSnapshot();
}

void Coordinator::Fail(const Error& e) {
  // The journal is poisoned: the kernel may have dropped pages we were told
  // were written. Nothing more can be made durable; a restart replays what is
  // on disk, and nothing acknowledged is lost because every answer waited for
  // durability.
  RF_LOG(kError, "journal failed: stopping so a restart can replay the durable state",
         {"error", e.ToString()});
  failed_ = true;
  ::_exit(75);
}

void Coordinator::Dispatch(After& a) {
  Entry& e = *a.entry;
  --e.pending;
  for (uint32_t s : a.effects.execute) Enqueue(e, s);
  for (const MapItemRef& item : a.effects.items) EnqueueItem(e, item);
  for (const Timer& t : a.effects.timers) AddTimer(e, t);
  for (uint32_t s : a.effects.abort)
    for (Entry::InFlight& f : e.in_flight)
      if (f.step == s) f.cancel->Fire();
  // A store with an outbox relay publishes the events once they are committed.
  if (!store_->relays_events() && (!a.events.empty() || a.finished)) Publish(e, a.events, a.finished);
  if (!a.finished) return;
  e.terminal_durable = true;
  ChildEnded(e);
  CancelChildren(e);
  CountLive(e.run, -1);
  LeaveFlow(e);
  CancelPermitWaits(e);
  size_t slot = e.run.status == RunStatus::kSucceeded ? 0 : e.run.status == RunStatus::kFailed ? 1 : 2;
  stats_->Workflow(e.run.def->name).finished[slot].Add();
  if (e.waiters) {
    // Waiters resume after this turn: hand them the answer now, while the run is whole.
    std::string json = RunJson(e.run);
    for (Waiter* w = e.waiters; w; w = w->next) w->json = json;
    while (Waiter* w = e.waiters) WakeWaiter(e, w);
  }
  Compact(e);
  QueueMove(e);
}

void Coordinator::Compact(Entry& e) {
  // A finished run changes only by a retry, which is rare: keep its log (the
  // truth) and the summary fields lists need, and drop the rest, rebuilding it
  // from the log when asked. Roughly halves what a retained run costs.
  if (e.compact || e.quarantined_at || !e.subscribers.empty()) return;
  e.run.steps = {};
  e.run.input = json::Value();
  e.run.output = json::Value();
  e.compact = true;
}

Result<Run> Coordinator::Rebuild(const Entry& e) const { return RebuildRun(e.run.def, e.log); }

Status Coordinator::Expand(Entry& e) {
  if (e.quarantined_at) return Error{Errc::kConflict, "the run is " + e.run.error};
  if (!e.compact) return {};
  auto r = Rebuild(e);
  if (!r) return r.error();
  e.run = std::move(*r);
  e.compact = false;
  return {};
}

RunView Coordinator::View(const Entry& e, bool created) const {
  if (!e.compact) return RunView{RunJson(e.run), created, e.terminal_durable};
  auto r = Rebuild(e);
  if (!r) return RunView{"{\"error\":\"run log unreadable\"}", created, true};
  return RunView{RunJson(*r), created, e.terminal_durable};
}

// --- ?wait: resumed when the run's end is durable, or at the deadline -------


void Coordinator::WakeWaiter(Entry& e, Waiter* w) {
  for (Waiter** p = &e.waiters; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      break;
    }
  }
  reactor::Shard::Current().Disarm(w);
  reactor::Shard::Current().Schedule(w->handle);
}

class Coordinator::TerminalWait {
 public:
  TerminalWait(Entry& e, Nanos deadline) : deadline_(deadline) {
    w_.entry = &e;
    w_.fire = &Fire;
  }
  bool await_ready() const noexcept { return w_.entry->terminal_durable || MonoNow() >= deadline_; }
  void await_suspend(std::coroutine_handle<> h) {
    w_.handle = h;
    w_.next = w_.entry->waiters;
    w_.entry->waiters = &w_;
    reactor::Shard::Current().Arm(&w_, deadline_);
  }
  // The finished run's JSON, or empty when the wait timed out.
  std::string await_resume() noexcept { return std::move(w_.json); }

 private:
  static void Fire(reactor::Shard::TimerNode* n) {
    auto* w = static_cast<Waiter*>(n);
    t_local->WakeWaiter(*w->entry, w);
  }
  Nanos deadline_;
  Waiter w_;
};

// --- commands ----------------------------------------------------------------

// Resumed when the mover finished a batch (or stopped).
class Coordinator::MoveProgress {
 public:
  explicit MoveProgress(Coordinator& c) : c_(c) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { c_.move_waiters_.push_back(h); }
  void await_resume() const noexcept {}

 private:
  Coordinator& c_;
};

reactor::Task<Result<RunView>> Coordinator::Start(StartCommand cmd) {
  if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
  if (!store_->healthy()) co_return Error{Errc::kUnavailable, "the store is unavailable; retry"};
  if (Status held = CheckHeld(cmd.partition); !held) co_return held.error();
  // Back-pressure: finished runs are moved into history more slowly than they finish.
  const Nanos give_up = MonoNow() + kMoveWaitLimit;
  while (to_move_.size() >= kMaxPendingMoves && moving_) {
    if (MonoNow() >= give_up)
      co_return Error{Errc::kUnavailable, "the history store is behind; retry"};
    stats_->history_backpressure.Add();
    co_await MoveProgress(*this);  // suspends
    if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
  }
  if (Status ok = json::CheckValue(cmd.input); !ok)
    co_return Error{ok.error().code, "input " + ok.error().context};
  Entry* e = nullptr;
  bool created = false;
  std::string key;
  if (!cmd.idempotency_key.empty()) {
    key = cmd.def->name + '\n' + cmd.idempotency_key;
    if (auto it = idempotency_.find(key); it != idempotency_.end()) e = it->second;
    if (!e && history_) {
      // The first start with this key may have finished and left memory.
      auto found = co_await history_->FindKey(cmd.def->name, cmd.idempotency_key);  // suspends
      if (!found) co_return Error{Errc::kUnavailable, "history: " + found.error().context};
      if (*found) {
        auto loaded = co_await Load(**found);  // suspends
        if (!loaded) co_return loaded.error();
        e = *loaded;
      }
      // Another start with the key may have created the run while we looked.
      if (auto it = idempotency_.find(key); !e && it != idempotency_.end()) e = it->second;
      if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
    }
  }
  if (!e) {
    // The partition may have been handed over while this start waited above.
    if (Status held = CheckHeld(cmd.partition); !held) co_return held.error();
    if (cmd.live_limit != 0) {
      const std::string_view ns = SplitQualified(cmd.def->name).ns;
      if (const int64_t live = usage_->Live(ns); live >= cmd.live_limit)
        co_return Error{Errc::kLimited,
                        "namespace '" + std::string(ns) + "' has " + std::to_string(live) +
                            (cmd.live_limit < 0 ? " live runs here and its quota's worth on the cluster's other instances"
                                                : " live runs, its quota") +
                            "; retry when some have ended"};
    }
    RunId id = NewRunId(cmd.partition, NowMs());
    auto owned = std::make_unique<Entry>();
    e = owned.get();
    e->run.def = cmd.def;
    std::string flow_key;
    bool queued = false;
    if (cmd.def->flow_controlled()) {
      flow_key = FlowKey(*cmd.def, cmd.input);
      e->gate = FlowGateId(cmd.def->name, flow_key);
      queued = cmd.def->debounce || !AdmitFlow(*e);  // a debounced start waits out its quiet time
    }
    e->log.reserve(256 + 256 * cmd.def->steps.size());  // one allocation for a typical run's records
    e->fresh = true;
    runs_.emplace(id, std::move(owned));
    listed_.insert(id);
    std::vector<Record> records;
    std::vector<Event> events;
    const bool want =
        store_->wants_events() || workflow_subs_.find(cmd.def->name) != workflow_subs_.end();
    Machine m = Machine::Create(e->run, id, std::move(cmd.input), cmd.priority,
                                cmd.idempotency_key, NowMs(), records, want ? &events : nullptr,
                                cmd.trace_parent, std::move(cmd.parent), queued ? &flow_key : nullptr);
    stats_->Workflow(cmd.def->name).started.Add();
    CountLive(e->run, 1);
    stats_->runs_retained.Add(1);
    // Root steps that only compute (noop, transform) have no effect outside the
    // run, so they need not wait for the creation to be durable: they run now
    // and their results join the creation's commit. Steps with effects (http)
    // and every step with dependencies still wait for durability.
    std::vector<uint32_t> pure;
    std::erase_if(m.effects().execute, [&](uint32_t i) {
      StepType t = e->run.def->steps[i].type;
      bool p = t == StepType::kNoop || t == StepType::kTransform;
      if (p) pure.push_back(i);
      return p;
    });
    Persist(*e, records, m, events, RunStatus::kPending);
    e->created_lsn = store_->last_ticket();
    if (!key.empty()) idempotency_.emplace(std::move(key), e);
    created = true;
    // Queued behind others, but this start's version may have raised the limit: the queue
    // moves now (in order) instead of when the next run of the key ends.
    if (cmd.def->debounce) {
      HoldDebounced(*e, MonoNow() + cmd.def->debounce->ms * kMillis);
    } else if (queued) {
      ReleaseFlow(e->gate);
    }
    for (uint32_t i : pure) RunPure(*e, i, 1, MonoNow());
  }
  Pin pin(e);
  Status st = co_await store_->Durable(e->created_lsn);  // suspends
  if (!st) co_return Error{Errc::kUnavailable, st.error().context};
  if (cmd.wait > 0 && !e->terminal_durable) {
    std::string json = co_await TerminalWait(*e, MonoNow() + cmd.wait);  // suspends
    if (!json.empty()) co_return RunView{std::move(json), created, true};
  }
  co_return View(*e, created);
}

namespace {

// A run of another namespace does not exist for the caller: the same answer as an unknown id.
Status CheckNamespace(const Run& run, const RunId& id, std::string_view ns) {
  if (ns.empty() || InNamespace(run.def->name, ns)) return {};
  return Error{Errc::kNotFound, "no run with id " + id.ToString()};
}

}  // namespace

reactor::Task<Result<RunView>> Coordinator::Get(RunId id, std::string ns) {
  auto e = co_await Load(id, true);  // suspends
  if (!e) co_return e.error();
  if (Status in = CheckNamespace((*e)->run, id, ns); !in) {
    if ((*e)->moved) Compact(**e);
    co_return in.error();
  }
  RunView view = View(**e, false);
  if ((*e)->moved) Compact(**e);  // a finished run in the cache keeps its log only
  co_return view;
}

reactor::Task<Result<RunView>> Coordinator::Cancel(RunId id, std::string ns) {
  return Command(id, 0, {}, {}, std::move(ns));
}

reactor::Task<Result<RunView>> Coordinator::Signal(RunId id, std::string name, json::Value payload,
                                                   std::string ns) {
  return Command(id, 1, std::move(name), std::move(payload), std::move(ns));
}

reactor::Task<Result<RunView>> Coordinator::Retry(RunId id, std::string ns) {
  return Command(id, 2, {}, {}, std::move(ns));
}

reactor::Task<Result<RunView>> Coordinator::Command(RunId id, int kind, std::string name,
                                                    json::Value payload, std::string ns) {
  if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
  if (!store_->healthy()) co_return Error{Errc::kUnavailable, "the store is unavailable; retry"};
  // A run of a partition held elsewhere is changed only by its holder.
  if (Status held = CheckHeld(id.partition()); !held) co_return held.error();
  auto loaded = co_await Load(id);  // suspends
  if (!loaded) co_return loaded.error();
  // A failed run whose move into history is queued or under way: let it land first, so the
  // retry below removes history's failed copy. Written after the retry, that copy would stay
  // in dead-letter listings until the run is moved again.
  const Nanos give_up = MonoNow() + kMoveWaitLimit;
  while (kind == 2 && history_ && moving_ && !(*loaded)->moved && (*loaded)->terminal_durable &&
         (*loaded)->run.status == RunStatus::kFailed) {
    if (MonoNow() >= give_up) co_return Error{Errc::kUnavailable, "the history store is behind; retry"};
    co_await MoveProgress(*this);  // suspends
    if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
    loaded = co_await Load(id);  // suspends: the landed move may have evicted it from the cache
    if (!loaded) co_return loaded.error();
  }
  Entry* e = *loaded;
  if (Status in = CheckNamespace(e->run, id, ns); !in) co_return in.error();
  if (failed_ || closing_) co_return Error{Errc::kUnavailable, "the engine is shutting down"};
  if (Status held = CheckHeld(id.partition()); !held) co_return held.error();  // handed over meanwhile
  // Only a failed run changes (a retry); the others answer with a conflict below.
  const bool restore = kind == 2 && e->moved && e->run.status == RunStatus::kFailed;
  if (restore) {
    if (Status x = Restore(*e); !x) co_return x.error();
  }
  if (Status x = Expand(*e); !x) co_return x.error();
  Status st = Mutate(*e, [&](Machine& m) -> Status {
    switch (kind) {
      case 0: return m.Cancel();
      case 1: return m.Signal(name, std::move(payload));
      default: return m.Resume();
    }
  });
  if (!st) co_return st.error();
  Pin pin(e);
  Status d = co_await store_->Durable(store_->last_ticket());  // suspends
  if (!d) co_return Error{Errc::kUnavailable, d.error().context};
  if (restore) {
    // Only now that the journal holds the run again may history let go of it;
    // once the retry is answered no listing shows it failed from there. A
    // failed removal heals itself: the run's next move replaces that copy.
    Status removed = co_await history_->Remove(id);  // suspends
    if (!removed)
      RF_LOG(kWarn, "history: a retried run's old copy stays until it finishes again",
             {"run", id.ToString()}, {"error", removed.error().ToString()});
  }
  co_return View(*e, false);
}

std::string Coordinator::SummaryJson(const RunId& id, std::string_view workflow, int64_t version,
                                     RunStatus status, int64_t created_ms, int64_t finished_ms,
                                     std::string_view error, std::string_view failed_step,
                                     bool dead_letter) {
  const ScopedName scoped = SplitQualified(workflow);
  json::Object o{{"id", id.ToString()},
                 {"workflow", std::string(scoped.name)},
                 {"namespace", std::string(scoped.ns)},
                 {"version", version},
                 {"status", std::string(RunStatusName(status))},
                 {"created_ms", created_ms},
                 {"finished_ms", finished_ms ? json::Value(finished_ms) : json::Value()}};
  if (dead_letter) {
    o.emplace_back("error", std::string(error));
    o.emplace_back("step", failed_step.empty() ? json::Value() : json::Value(std::string(failed_step)));
  }
  return json::ToString(json::Value(std::move(o)));
}

RunPage Coordinator::List(const RunQuery& q) const {
  RunPage page;
  auto it = q.before ? listed_.lower_bound(*q.before) : listed_.end();
  while (it != listed_.begin()) {
    --it;
    const Run& r = runs_.find(*it)->second->run;
    if (!q.workflow.empty() && r.def->name != q.workflow) continue;
    if (q.ns && !InNamespace(r.def->name, *q.ns)) continue;
    if (q.dead_letter && r.status != RunStatus::kFailed) continue;
    if (!q.any_status && r.status != q.status) continue;
    if (page.runs.size() == q.limit) {
      page.more = true;
      break;
    }
    page.runs.emplace_back(r.id, SummaryJson(r.id, r.def->name, r.def->version, r.status,
                                             r.created_ms, r.finished_ms, r.error, r.failed_step,
                                             q.dead_letter));
  }
  return page;
}

}  // namespace rf::engine
