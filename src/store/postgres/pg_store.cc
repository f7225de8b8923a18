#include "store/postgres/pg_store.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "obs/log.h"
#include "reactor/shard.h"
#include "store/postgres/detail/array_text.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/run_statements.h"
#include "store/postgres/detail/text.h"
#include "store/postgres/pg_history.h"
#include "store/postgres/pg_relay.h"

namespace rf::store::pg {

using detail::ArrayText;

namespace {

// The timeouts table's step_index: -1 for the run's deadline.
int StepIndex(uint32_t step) { return step == kRunTimer ? -1 : static_cast<int>(step); }

}  // namespace

// --- the batch of one turn -----------------------------------------------------

struct PgRunStore::PendingRun {
  std::string id_text;
  uint32_t partition;
  std::string workflow;
  int64_t version;
  std::string status;
  int priority;
  std::string key;
  std::string input, output, error;  // JSON; empty: NULL
  int64_t created, updated, finished, deadline;
  int64_t log_bytes = 0;  // the run's whole log as of this batch: runs.history_bytes
  // This batch's records of the run: one run_records row.
  uint32_t rec_first = 0, rec_last = 0;
  std::string rec_payload;  // one record per line
  int64_t rec_at = 0;
  bool changed = false;  // the runs row must be written
  // ... and its events: one events row (a JSON array).
  uint32_t ev_first = 0, ev_last = 0;
  std::string ev_data;
  int64_t ev_at = 0;
};

struct PgRunStore::Batch {
  uint64_t last_ticket = 0;
  size_t records = 0;
  size_t events = 0;

  std::vector<PendingRun> runs;
  std::unordered_map<RunId, size_t, RunIdHash> run_index;

  struct TimeoutRow {
    int64_t expire;
    bool completed;
  };
  std::map<std::pair<RunId, int>, TimeoutRow> timeouts;  // one row per (run, step): ON CONFLICT needs it

  std::vector<RunId> forget;
  std::set<uint32_t> partitions;

  bool empty() const { return records == 0 && events == 0 && forget.empty(); }
};

struct PgRunStore::Waiter {
  uint64_t ticket;
  std::coroutine_handle<> handle;
  Waiter* next;
  Status status;
};

class PgRunStore::DurableWait {
 public:
  DurableWait(PgRunStore& s, uint64_t ticket) : s_(s) { w_.ticket = ticket; }
  bool await_ready() const noexcept { return s_.durable_ >= w_.ticket; }
  void await_suspend(std::coroutine_handle<> h) {
    w_.handle = h;
    w_.next = s_.waiters_;
    s_.waiters_ = &w_;
  }
  Status await_resume() { return w_.handle ? w_.status : Status{}; }

 private:
  PgRunStore& s_;
  Waiter w_{};
};

PgRunStore::PgRunStore(PgOptions options, unsigned shard, std::vector<uint32_t> partitions,
                       PgEventRelay* relay)
    : options_(std::move(options)), shard_(shard), partitions_(std::move(partitions)), relay_(relay) {}

PgRunStore::~PgRunStore() = default;

PgRunStore::Batch& PgRunStore::batch() {
  if (!pending_) pending_ = std::make_unique<Batch>();
  return *pending_;
}

uint64_t PgRunStore::Append(const RunRow& run, const AppendedRecord& r) {
  Batch& b = batch();
  b.last_ticket = ++appended_;
  ++b.records;
  b.partitions.insert(run.id.partition());
  PendingRun& row = PendingOf(b, run);
  if (row.rec_first == 0) row.rec_first = r.seq;
  if (!row.rec_payload.empty()) row.rec_payload += '\n';  // records are compact JSON: no newlines
  row.rec_payload += r.payload;
  row.rec_last = r.seq;
  row.rec_at = r.at_ms;

  if (!run.input.empty()) row.input = run.input;
  // The runs row is rewritten only when what it shows changes (status, end, deadline):
  // a step finishing inside a running run adds records but leaves the row as it was.
  auto [known, first] = persisted_.try_emplace(run.id, run.status);
  if (first || known->second != run.status || r.resumed) row.changed = true;
  known->second = run.status;
  if (IsTerminal(run.status)) persisted_.erase(known);
  row.status = RunStatusName(run.status);
  row.updated = run.updated_ms;
  row.finished = run.finished_ms;
  row.deadline = run.deadline_ms;
  row.log_bytes = run.log_bytes;
  row.output = run.output;
  row.error = run.error;

  // Durable timers, mirrored for queries: armed by records with a due time,
  // completed by the transition that consumes them.
  if (r.timer.kind == TimerChange::Kind::kArm) {
    b.timeouts[{run.id, StepIndex(r.timer.step)}] = {r.timer.at_ms, false};
  } else if (r.timer.kind == TimerChange::Kind::kEnd) {
    auto [t, inserted] = b.timeouts.try_emplace({run.id, StepIndex(r.timer.step)},
                                                Batch::TimeoutRow{r.timer.at_ms, true});
    if (!inserted) t->second.completed = true;
  }
  if (parked_) reactor::Shard::Current().Schedule(std::exchange(parked_, {}));
  return appended_;
}

PgRunStore::PendingRun& PgRunStore::PendingOf(Batch& b, const RunRow& run) {
  auto [it, inserted] = b.run_index.emplace(run.id, b.runs.size());
  if (!inserted) return b.runs[it->second];
  PendingRun& row = b.runs.emplace_back();
  row.id_text = run.id_text;
  row.partition = run.id.partition();
  row.workflow = run.workflow;
  row.version = run.version;
  row.priority = run.priority;
  row.key = run.idempotency_key;
  row.created = run.created_ms;
  return row;
}

void PgRunStore::AppendEvent(const RunRow& run, uint64_t seq, int64_t at_ms, std::string_view event) {
  Batch& b = batch();
  PendingRun& row = PendingOf(b, run);
  if (row.ev_first == 0) row.ev_first = static_cast<uint32_t>(seq);
  row.ev_data += row.ev_data.empty() ? "[" : ",";
  row.ev_data += event;
  row.ev_last = static_cast<uint32_t>(seq);
  row.ev_at = at_ms;
  ++b.events;
}

void PgRunStore::Forget(const RunId& id) {
  persisted_.erase(id);
  Batch& b = batch();
  b.forget.push_back(id);
  b.last_ticket = ++appended_;
  if (parked_) reactor::Shard::Current().Schedule(std::exchange(parked_, {}));
}

reactor::Task<Status> PgRunStore::Durable(uint64_t ticket) {
  DurableWait w(*this, ticket);
  co_return co_await w;  // suspends until the committer released the ticket
}

void PgRunStore::Release() {
  Waiter** p = &waiters_;
  reactor::Shard& shard = reactor::Shard::Current();
  while (*p) {
    Waiter* w = *p;
    if (w->ticket <= durable_) {
      *p = w->next;
      shard.Schedule(w->handle);
    } else {
      p = &w->next;
    }
  }
}

reactor::Task<Status> PgRunStore::CommitBatch(const Batch& b) {
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool_.get(), *conn);

  std::deque<std::string> owned;  // stable addresses: Query holds views into them
  auto keep = [&](std::string s) -> std::string_view { return owned.emplace_back(std::move(s)); };

  std::vector<Query> qs;
  qs.push_back({.stmt_name_or_sql = "BEGIN", .prepared = false, .params = {}});
  ArrayText touched, epochs;
  for (uint32_t p : b.partitions) {
    auto held = leases_.find(p);
    RF_CHECK(held != leases_.end());  // runs of a partition are appended only while it is held
    touched.AddInt(p);
    epochs.AddInt(held->second.epoch);
  }
  const detail::CheckFence fence{.partitions = touched.Take(), .owner = options_.instance,
                                 .epochs = epochs.Take()};
  if (!b.partitions.empty()) qs.push_back(fence.Bind());
  const size_t fence_index = qs.size() - 1;
  if (b.records) {
    detail::UpsertRuns runs;
    detail::InsertRunRecords records;
    std::vector<uint32_t> outbox_parts;  // the partitions of the runs in `outbox`, each once
    std::string outbox;                  // a line per run with events
    for (const auto& row : b.runs) {
      // Events come only from records, appended in the same turn: never a row without them.
      RF_CHECK(row.rec_first != 0);
      records.run_id.Add(row.id_text);
      records.first_seq.AddInt(row.rec_first);
      records.last_seq.AddInt(row.rec_last);
      records.payload.Add(row.rec_payload);
      records.at_ms.AddInt(row.rec_at);
      if (row.ev_first) {
        records.first_event.AddInt(row.ev_first);
        records.last_event.AddInt(row.ev_last);
        records.events.Add(row.ev_data + "]");
        if (std::find(outbox_parts.begin(), outbox_parts.end(), row.partition) == outbox_parts.end())
          outbox_parts.push_back(row.partition);
        AppendOutboxLine(outbox, row.id_text, row.ev_first, row.ev_last, row.workflow);
      } else {
        records.first_event.AddNull();
        records.last_event.AddNull();
        records.events.AddNull();
      }
      if (!row.changed) continue;
      runs.last_seq.AddInt(row.rec_last);
      runs.epoch.AddInt(leases_.at(row.partition).epoch);
      runs.run_id.Add(row.id_text);
      runs.partition.AddInt(row.partition);
      runs.workflow.Add(row.workflow);
      runs.version.AddInt(row.version);
      runs.status.Add(row.status);
      runs.priority.AddInt(row.priority);
      row.key.empty() ? runs.idempotency_key.AddNull() : runs.idempotency_key.Add(row.key);
      row.input.empty() ? runs.input.AddNull() : runs.input.Add(row.input);
      row.output.empty() ? runs.output.AddNull() : runs.output.Add(row.output);
      row.error.empty() ? runs.error.AddNull() : runs.error.Add(row.error);
      runs.created_ms.AddInt(row.created);
      runs.updated_ms.AddInt(row.updated);
      runs.finished_ms.AddMillisOrNull(row.finished);
      runs.deadline_ms.AddMillisOrNull(row.deadline);
      runs.history_bytes.AddInt(row.log_bytes);
    }
    qs.push_back(runs.Bind(keep));
    qs.push_back(records.Bind(keep));
    // A resent batch (its COMMIT's outcome was lost) may add a second outbox row with
    // the same events: subscribers drop what they have seen by number.
    if (!outbox.empty()) {
      ArrayText parts;
      for (uint32_t p : outbox_parts) parts.AddInt(p);
      qs.push_back(detail::InsertOutbox{.partitions = keep(parts.Take()), .data = keep(std::move(outbox))}.Bind());
    }
  }
  if (!b.timeouts.empty()) {
    detail::UpsertTimeouts timeouts;
    for (const auto& [key, t] : b.timeouts) {
      char id[36];
      key.first.Format(id);
      timeouts.run_id.Add(std::string_view(id, sizeof id));
      timeouts.step_index.AddInt(key.second);
      timeouts.expire_ms.AddInt(t.expire);
      timeouts.completed.Add(t.completed ? "t" : "f");
    }
    qs.push_back(timeouts.Bind(keep));
  }
  if (!b.forget.empty()) {
    ArrayText ids;
    for (const RunId& id : b.forget) ids.Add(id.ToString());
    std::string_view arr = keep(ids.Take());
    for (std::string_view stmt : {detail::ForgetRecords::kName, detail::ForgetRuns::kName,
                                  detail::ForgetTimeouts::kName})
      qs.push_back({.stmt_name_or_sql = stmt, .prepared = true, .params = {arr}});
  }
  qs.push_back({.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}});

  auto res = co_await lease->Pipeline(qs, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  // rf_fence raised: the transaction was aborted before anything was written.
  if (!b.partitions.empty() && (*res)[fence_index].sqlstate() == "RF001")
    co_return Error{Errc::kConflict, "partition leases lost"};
  if (Status st = FirstError(*res); !st) co_return st;
  co_return Status{};
}

// Hands each turn's batch to a commit of its own, with up to `pool` commits in
// flight: PostgreSQL then merges their WAL flushes (its own group commit), which
// a strictly serial committer would wait for one by one. Batches may commit out
// of order; tickets are released only in order (a waiter's records may span
// batches), and the runs upsert keeps the row with the highest record number.
reactor::Task<void> PgRunStore::Committer(PgRunStore* self) {
  while (true) {
    const bool work = self->pending_ && !self->pending_->empty();
    if (!work || self->in_flight_.size() >= self->options_.pool) {
      if (!work && self->closing_ && self->in_flight_.empty()) break;
      struct Park {
        PgRunStore* s;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) noexcept { s->parked_ = h; }
        void await_resume() const noexcept {}
      };
      co_await Park{self};  // suspends until an Append, a finished commit or Close
      continue;
    }
    std::unique_ptr<Batch> b = std::move(self->pending_);
    self->in_flight_.push_back(InFlight{b->last_ticket, false});
    reactor::Spawn(CommitOne(self, std::move(b), &self->in_flight_.back()));
    co_await reactor::Yield{};  // suspends: the next batch collects a turn's appends
  }
  self->committer_done_ = true;
  if (self->closed_) reactor::Shard::Current().Schedule(std::exchange(self->closed_, {}));
}

reactor::Task<void> PgRunStore::CommitOne(PgRunStore* self, std::unique_ptr<Batch> b, InFlight* slot) {
  Nanos backoff = 50 * kMillis;
  self->stats_.in_flight.Add(1);
  while (true) {
    const Nanos t0 = MonoNow();
    Status st = co_await self->CommitBatch(*b);  // suspends
    if (st) {
      self->stats_.commit_latency.ObserveNanos(MonoNow() - t0);
      self->stats_.commits.Add();
      self->stats_.records.Add(b->records);
      self->stats_.batch_records.Observe(b->records);
      if (b->events && self->relay_) self->relay_->Nudge();
      if (!self->healthy_.load(std::memory_order_relaxed))
        RF_LOG(kInfo, "postgres: commits succeed again", {"shard", self->shard_});
      self->healthy_.store(true, std::memory_order_relaxed);
      break;
    }
    if (st.error().code == Errc::kConflict && st.error().context == "partition leases lost") {
      // Another instance owns these partitions now: writing on would overwrite its state.
      RF_LOG(kError, "postgres: this instance lost its partition leases; stopping",
             {"shard", self->shard_});
      ::_exit(75);
    }
    self->healthy_.store(false, std::memory_order_relaxed);
    self->stats_.commit_failures.Add();
    if (MonoNow() - self->logged_ > kSeconds) {
      self->logged_ = MonoNow();
      RF_LOG(kWarn, "postgres: commit failed, retrying", {"shard", self->shard_},
             {"error", st.error().ToString()}, {"backoff_ms", backoff / kMillis});
    }
    if (self->closing_) {
      // Shutting down with the database unreachable: these records were never
      // acknowledged; their callers hear so.
      for (Waiter* w = self->waiters_; w; w = w->next)
        if (w->ticket <= b->last_ticket) w->status = st.error();
      break;
    }
    co_await reactor::Sleep(backoff);  // suspends
    backoff = std::min<Nanos>(backoff * 2, 2 * kSeconds);
  }
  self->stats_.in_flight.Add(-1);
  slot->done = true;
  while (!self->in_flight_.empty() && self->in_flight_.front().done) {
    self->durable_ = std::max(self->durable_, self->in_flight_.front().ticket);
    self->in_flight_.pop_front();
  }
  self->Release();
  if (self->parked_) reactor::Shard::Current().Schedule(std::exchange(self->parked_, {}));
}

reactor::Task<Status> PgRunStore::Close() {
  closing_ = true;
  reactor::Shard::Current().Disarm(&heartbeat_);
  co_await background_.Wait();  // suspends: a renewal under way
  if (pool_) {
    if (parked_) reactor::Shard::Current().Schedule(std::exchange(parked_, {}));
    if (!committer_done_) {
      struct Wait {
        PgRunStore* s;
        bool await_ready() const noexcept { return s->committer_done_; }
        void await_suspend(std::coroutine_handle<> h) noexcept { s->closed_ = h; }
        void await_resume() const noexcept {}
      };
      co_await Wait{this};  // suspends
    }
    std::vector<uint32_t> all;
    for (const auto& [p, l] : leases_) all.push_back(p);
    co_await ReleaseLeases(std::move(all));  // suspends
    co_await pool_->Close();   // suspends
  }
  if (read_pool_) co_await read_pool_->Close();  // suspends
  co_return Status{};
}

reactor::Task<Result<std::vector<OutboxRow>>> PgRunStore::History(const RunId& run,
                                                                          uint64_t after_seq) {
  if (!read_pool_) co_return Error{Errc::kUnavailable, "the store is not open"};
  auto conn = co_await read_pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(read_pool_.get(), *conn);
  const detail::SelectEventHistory history{.run_id = run.ToString(), .after_seq = std::to_string(after_seq)};
  Query q[] = {history.Bind()};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = FirstError(*res); !st) co_return st.error();
  const PgResult& got = (*res)[0];
  std::vector<OutboxRow> rows;
  rows.reserve(static_cast<size_t>(got.rows()));
  for (int i = 0; i < got.rows(); ++i) {
    OutboxRow row{.run = run, .first_seq = 0, .last_seq = 0, .workflow = {},
                  .data = std::string(got.value(i, 2))};
    if (!detail::ParseInt(got.value(i, 0), row.first_seq) || !detail::ParseInt(got.value(i, 1), row.last_seq))
      co_return Error{Errc::kCorrupt, "run_records: bad event numbers of run " + history.run_id};
    rows.push_back(std::move(row));
  }
  co_return rows;
}

PgStoreFactory::PgStoreFactory(PgOptions options)
    : options_(std::move(options)), relay_(std::make_unique<PgEventRelay>(options_)) {}

PgStoreFactory::~PgStoreFactory() = default;

std::unique_ptr<RunStore> PgStoreFactory::MakeRunStore(unsigned shard,
                                                               std::vector<uint32_t> partitions) {
  auto store = std::make_unique<PgRunStore>(options_, shard, std::move(partitions), relay_.get());
  if (run_stores_.size() <= shard) run_stores_.resize(shard + 1, nullptr);
  run_stores_[shard] = store.get();
  return store;
}

EventRelay* PgStoreFactory::relay() { return relay_.get(); }

HistoryStore* PgStoreFactory::history() {
  if (!history_) {
    // Each call runs on a shard thread and reads only that shard's entry (set
    // before the shards started, its pool set by that shard's Open).
    history_ = std::make_unique<PgHistoryStore>(options_, [this]() -> PgHistoryStore::ShardPools {
      const unsigned shard = reactor::Shard::Current().id();
      if (shard >= run_stores_.size() || run_stores_[shard] == nullptr) return {};
      return {.reads = run_stores_[shard]->read_pool(), .writes = run_stores_[shard]->pool()};
    });
  }
  return history_.get();
}

void PgStoreFactory::RenderMetrics(std::string& out) const {
  std::vector<const StoreStats*> parts;
  for (const PgRunStore* s : run_stores_)
    if (s) parts.push_back(&s->stats());
  RenderStoreMetrics(parts, out);
  if (!parts.empty()) relay_->RenderMetrics(out);
}

}  // namespace rf::store::pg
