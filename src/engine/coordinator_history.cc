// Finished runs leave memory. Once a run's end is durable it is queued for the
// history store; once history has it durably, the run stays in a bounded cache
// (LRU, by bytes) and then leaves memory. Reads of a run that is not in
// memory (GET, retry, SSE, the key of a repeated start) load it back into the
// cache. Snapshots hold only what history does not have, so they stay small
// and a restart replays live state, not retained history.

#include <algorithm>

#include "engine/coordinator.h"
#include "engine/run_row.h"
#include "obs/log.h"
#include "store/run_log.h"

namespace rf::engine {
namespace {

constexpr size_t kMoveBatch = 2048;          // runs per history write
// A shard writes to history at most this often, unless a whole batch waits: every write is a
// durable (fsynced) RocksDB write, and writing as soon as the previous one was done made
// batches of ~50 runs at full load, about 280 fsyncs a second beside the journal's.
constexpr Nanos kMoveEvery = 25 * kMillis;
}  // namespace

// Finished runs waiting for their move, per shard: new starts wait above this
// (and fail with kUnavailable after kMoveWaitLimit), so a history store that
// cannot keep up slows the load down instead of filling memory.
const size_t Coordinator::kMaxPendingMoves = 10'000;
const Nanos Coordinator::kMoveWaitLimit = 10 * kSeconds;

namespace {
constexpr size_t kExpireBatch = 10'000;      // runs per retention call
constexpr Nanos kMaxMoveBackoff = 5 * kSeconds;

store::HistoryRun HistoryOf(const Run& r, const std::string& log) {
  store::HistoryRun h;
  h.id = r.id;
  h.workflow = r.def->name;
  h.version = r.def->version;
  h.status = r.status;
  h.created_ms = r.created_ms;
  h.finished_ms = r.finished_ms;
  h.idempotency_key = r.idempotency_key;
  h.error = r.error;
  h.failed_step = r.failed_step;
  h.log = log;
  return h;
}

size_t EntryCost(const std::string& log, const Run& r) {
  // The entry, its map node and the strings it owns.
  return 256 + log.capacity() + r.id_text.capacity() + r.idempotency_key.capacity() +
         r.error.capacity() + r.failed_step.capacity();
}

}  // namespace

void Coordinator::QueueMove(Entry& e) {
  if (!history_ || e.moved) return;
  to_move_.emplace_back(e.run.id, e.records);
  stats_->history_pending.Add(1);
  if (moving_ || closing_) return;
  moving_ = true;
  reactor::Spawn(Mover(this), &tasks_);
}

reactor::Task<void> Coordinator::Mover(Coordinator* self) {
  // One writer per shard, paced: everything queued while a write is under way
  // or during the pause after it goes into the next one.
  std::vector<std::pair<RunId, uint32_t>> ids;
  Nanos backoff = 10 * kMillis;
  while (!self->to_move_.empty() && !self->closing_) {
    if (self->to_move_.size() < kMoveBatch) {
      co_await reactor::Sleep::Until(self->last_move_write_ + kMoveEvery);  // suspends
      if (self->closing_) break;
    }
    self->last_move_write_ = MonoNow();
    const size_t n = std::min(self->to_move_.size(), kMoveBatch);
    ids.assign(self->to_move_.begin(), self->to_move_.begin() + static_cast<ptrdiff_t>(n));
    self->to_move_.erase(self->to_move_.begin(), self->to_move_.begin() + static_cast<ptrdiff_t>(n));
    std::vector<store::HistoryRun> batch;
    batch.reserve(n);
    for (const auto& [id, records] : ids) {
      Entry* e = self->Find(id);
      if (e && !e->moved && e->terminal_durable && e->records == records) {
        batch.push_back(HistoryOf(e->run, e->log));
        using Prior = store::HistoryRun::Prior;
        batch.back().prior = e->restored ? Prior::kOlder : e->fresh ? Prior::kNone : Prior::kMaybe;
      }
    }
    Status st;
    if (!batch.empty()) st = co_await self->history_->Put(std::move(batch));  // suspends
    if (!st) {
      // The runs stay in memory (and in the journal) until a write succeeds.
      self->stats_->history_move_failures.Add();
      RF_LOG(kWarn, "history write failed; retrying", {"runs", n}, {"error", st.error().ToString()});
      self->to_move_.insert(self->to_move_.begin(), ids.begin(), ids.end());
      co_await reactor::Sleep(backoff);  // suspends
      backoff = std::min(backoff * 2, kMaxMoveBackoff);
      continue;
    }
    backoff = 10 * kMillis;
    self->stats_->history_pending.Add(-static_cast<int64_t>(n));
    std::vector<RunId> moved;
    moved.reserve(n);
    for (const auto& [id, records] : ids) {
      Entry* e = self->Find(id);
      // A retry that made the run live again meanwhile: it is moved again when it ends.
      if (!e || e->moved || !e->terminal_durable || e->records != records) continue;
      self->stats_->history_moved.Add();
      moved.push_back(id);
      self->CacheInsert(*e);
    }
    // History has them durably: a replay may skip their records (journal mark,
    // written with the next commit; if it is lost they are only moved again).
    if (!moved.empty()) self->store_->NoteMoved(moved);
    self->WakeMoveWaiters();
  }
  self->moving_ = false;
  self->WakeMoveWaiters();
}

void Coordinator::WakeMoveWaiters() {
  std::vector<std::coroutine_handle<>> ready;
  ready.swap(move_waiters_);
  for (auto h : ready) reactor::Shard::Current().Schedule(h);
}

void Coordinator::CacheInsert(Entry& e) {
  e.moved = true;
  Unlist(e);
  LruPush(e);
  EvictCache();
}

// A failed run stays counted until it leaves listed_, which it does only once history holds it
// durably: another shard that reads 0 (acquire, after this shard's release) and then reads
// history finds every failed run of this shard there. A retried one stays counted while it runs.
void Coordinator::WatchFailed(Entry& e) {
  if (e.failed_listed || (e.run.status != RunStatus::kFailed && !e.restored)) return;
  e.failed_listed = true;
  failed_listed_.fetch_add(1, std::memory_order_release);
}

void Coordinator::Unlist(Entry& e) {
  listed_.erase(e.run.id);
  if (!e.failed_listed) return;
  e.failed_listed = false;
  failed_listed_.fetch_sub(1, std::memory_order_release);
}

void Coordinator::LruPush(Entry& e) {
  e.cached_bytes = EntryCost(e.log, e.run);
  e.lru_prev = lru_tail_;
  e.lru_next = nullptr;
  (lru_tail_ ? lru_tail_->lru_next : lru_head_) = &e;
  lru_tail_ = &e;
  cache_bytes_ += e.cached_bytes;
  stats_->history_cached_runs.Add(1);
  stats_->history_cache_bytes.Add(static_cast<int64_t>(e.cached_bytes));
}

void Coordinator::LruUnlink(Entry& e) {
  (e.lru_prev ? e.lru_prev->lru_next : lru_head_) = e.lru_next;
  (e.lru_next ? e.lru_next->lru_prev : lru_tail_) = e.lru_prev;
  e.lru_prev = e.lru_next = nullptr;
  cache_bytes_ -= e.cached_bytes;
  stats_->history_cached_runs.Add(-1);
  stats_->history_cache_bytes.Add(-static_cast<int64_t>(e.cached_bytes));
  e.cached_bytes = 0;
}

void Coordinator::Touch(Entry& e) {
  if (!e.moved || lru_tail_ == &e) return;
  LruUnlink(e);
  LruPush(e);
}

void Coordinator::ScheduleEvict() {
  if (evict_scheduled_ || cache_bytes_ <= cache_limit_) return;
  evict_scheduled_ = true;
  reactor::Spawn(EvictLater(this), &tasks_);
}

reactor::Task<void> Coordinator::EvictLater(Coordinator* self) {
  co_await reactor::Yield{};  // suspends: the turn that loaded entries is over
  self->evict_scheduled_ = false;
  self->EvictCache();
}

bool Coordinator::Evictable(const Entry& e) const {
  return e.subscribers.empty() && !e.waiters && e.pending == 0 && e.pins == 0 && e.in_flight.empty();
}

void Coordinator::EvictCache() {
  if (snapshot_busy_) return;  // the snapshot being copied points at entries
  // Entries in use (a stream, a ?wait caller, queued work) go to the back;
  // each is looked at once per call, so this ends even if none can go.
  size_t look = stats_->history_cached_runs.Get() > 0
                    ? static_cast<size_t>(stats_->history_cached_runs.Get())
                    : 0;
  while (cache_bytes_ > cache_limit_ && lru_head_ && look-- > 0) {
    Entry* e = lru_head_;
    if (!Evictable(*e)) {
      Touch(*e);
      continue;
    }
    Drop(runs_.find(e->run.id));
    stats_->history_evicted.Add();
  }
}

std::map<RunId, std::unique_ptr<Coordinator::Entry>>::iterator Coordinator::Drop(
    std::map<RunId, std::unique_ptr<Entry>>::iterator it) {
  Entry& e = *it->second;
  if (e.moved) LruUnlink(e);
  if (!e.gate.empty() && !IsTerminal(e.run.status)) ForgetFlow(e);  // handed over: the next holder counts it
  if (!e.run.idempotency_key.empty()) {
    // After a replay the key may name a newer run that reused it once this one was removed.
    std::string key = std::string(e.run.def->name) + '\n' + e.run.idempotency_key;
    if (auto k = idempotency_.find(key); k != idempotency_.end() && k->second == &e)
      idempotency_.erase(k);
  }
  for (Entry::Sub& sub : e.subscribers) fanout::Subscriber::Publish(sub.to, std::vector<fanout::Chunk>{}, true);
  Unlist(e);
  stats_->runs_retained.Add(-1);
  return runs_.erase(it);
}

reactor::Task<Result<Coordinator::Entry*>> Coordinator::Load(RunId id, bool full) {
  if (Entry* e = Find(id)) {
    Touch(*e);
    co_return e;
  }
  if (!history_) co_return Error{Errc::kNotFound, "no run with id " + id.ToString()};
  auto h = co_await history_->Get(id);  // suspends
  if (Entry* e = Find(id)) co_return e;  // loaded or restored meanwhile
  if (!h) co_return Error{h.error().code == Errc::kNotFound ? Errc::kInternal : h.error().code,
                          "history: " + h.error().context};
  if (!*h) {
    // Not finished, as far as history knows: a live run is only where its partition is held.
    if (Status held = CheckHeld(id.partition()); !held) co_return held.error();
    co_return Error{Errc::kNotFound, "no run with id " + id.ToString()};
  }
  store::HistoryRun& hr = **h;
  const auto* def = registry_->Find(hr.workflow, hr.version);
  if (!def) {
    co_return Error{Errc::kInternal, "run " + id.ToString() + " uses workflow '" + hr.workflow +
                                         "' version " + std::to_string(hr.version) +
                                         ", which is no longer defined"};
  }
  auto owned = std::make_unique<Entry>();
  Entry* e = owned.get();
  e->run.def = *def;
  e->log = std::move(hr.log);
  auto run = Rebuild(*e);
  if (!run) co_return Error{Errc::kCorrupt, "history: run " + id.ToString() + ": " + run.error().ToString()};
  e->run = std::move(*run);
  Status counted = store::ForEachLogRecord(e->log, [&](std::string_view) -> Status {
    ++e->records;
    return {};
  });
  if (!counted) co_return counted.error();
  e->terminal_durable = true;
  runs_.emplace(id, std::move(owned));
  stats_->runs_retained.Add(1);
  stats_->history_loads.Add();
  if (!e->run.idempotency_key.empty())
    idempotency_.try_emplace(std::string(e->run.def->name) + '\n' + e->run.idempotency_key, e);
  if (!full) Compact(*e);
  // Into the cache without evicting: the caller uses the entry before it
  // next suspends; the eviction pass runs after this turn.
  e->moved = true;
  LruPush(*e);
  ScheduleEvict();
  co_return e;
}

Status Coordinator::Restore(Entry& e) {
  if (!e.moved) return {};
  LruUnlink(e);
  e.moved = false;
  e.restored = true;
  listed_.insert(e.run.id);
  WatchFailed(e);
  if (!history_->fed_by_commits()) {
    // The journal forgot this run when history took it: write its records
    // again, so a replay rebuilds the whole run before what follows.
    uint32_t seq = 0;
    RowText text;
    const bool rows = store_->wants_rows();
    Status st = store::ForEachLogRecord(e.log, [&](std::string_view payload) -> Status {
      auto r = DecodeRecord(payload);
      if (!r) return r.error();
      store_->Append(MakeRunRow(e.run, rows, r->type == RecordType::kRunCreated, text),
                     MakeAppended(e.run, *r, ++seq, payload));
      journal_bytes_since_snapshot_ += payload.size() + store_->record_overhead();
      return {};
    });
    if (!st) return st;
  }
  return {};
}

reactor::Task<void> Coordinator::ExpireHistory(Coordinator* self, int64_t term) {
  // Bulk, in bounded batches on the history pool's bulk lane: never a burst
  // that holds a shard or the lookups. Every batch carries the leadership term:
  // a store shared by a cluster refuses it once another daemon leads.
  const int64_t cutoff = self->NowMs() - self->options_.retention / kMillis;
  size_t total = 0;
  bool done = false;
  while (!self->closing_) {
    auto n = co_await self->history_->Expire(cutoff, kExpireBatch, term);  // suspends
    if (!n) {
      if (n.error().code == Errc::kConflict)
        RF_LOG(kInfo, "history retention stopped: no longer the leader", {"term", term});
      else
        RF_LOG(kWarn, "history retention failed", {"error", n.error().ToString()});
      break;
    }
    total += *n;
    if (*n < kExpireBatch) {
      done = true;
      break;
    }
  }
  if (done && self->leader_) self->leader_->CountRun(store::kJobHistoryRetention);
  if (total) RF_LOG(kInfo, "history retention removed runs", {"runs", total});
  self->expiring_ = false;
  if (total && self->bytes_node_.fire) self->MaybeRefreshBytes();  // starts may resume at once
}

// Every kBytesRefresh while a quota wants the totals (NamespaceUsage::history_bytes_wanted),
// else every kBytesRefreshGauge for the rf_namespace_history_bytes gauge alone, or 10 times as
// long as the last read took (at most a tenth of a backend); after each retention pass; at start
// after kBytesRefresh, at once only if a quota wants them (else the sum would compete with the
// start). The sum reads every finished run's index entry: 0.3 s at 600,000 runs under W3, every
// 2 s, was 7 % of the database's time with no quota set.
void Coordinator::OnBytesTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  if (self->closing_) return;
  self->MaybeRefreshBytes();
  const Nanos every = self->usage_->history_bytes_wanted() ? kBytesRefresh : kBytesRefreshGauge;
  reactor::Shard::Current().Arm(&self->bytes_node_, MonoNow() + std::max(every, 10 * self->bytes_took_));
}

void Coordinator::MaybeRefreshBytes() {
  if (refreshing_bytes_ || closing_) return;
  refreshing_bytes_ = true;
  reactor::Spawn(RefreshHistoryBytes(this), &tasks_);
}

reactor::Task<void> Coordinator::RefreshHistoryBytes(Coordinator* self) {
  const Nanos t0 = MonoNow();
  Status st = co_await self->history_->RefreshBytes();  // suspends
  self->bytes_took_ = MonoNow() - t0;
  // The last totals stay in force meanwhile.
  if (!st && !self->bytes_failing_)
    RF_LOG(kWarn, "history bytes refresh failed; the retained-history quota uses the last totals",
           {"error", st.error().ToString()});
  self->bytes_failing_ = !st;
  self->refreshing_bytes_ = false;
}

void Coordinator::AppendSummaries(const std::vector<store::HistoryRun>& runs, const RunQuery& q, RunPage& page) {
  for (const store::HistoryRun& r : runs)
    page.runs.emplace_back(r.id, SummaryJson(r.id, r.workflow, r.version, r.status, r.created_ms,
                                             r.finished_ms, r.error, r.failed_step, q.dead_letter));
}

}  // namespace rf::engine
