#include "backends/pg_store.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "backends/detail/array_text.h"
#include "backends/detail/pg_setup.h"
#include "backends/pg_history.h"
#include "backends/pg_relay.h"
#include "engine/registry.h"
#include "json/parse.h"
#include "json/writer.h"
#include "obs/log.h"
#include "reactor/shard.h"

namespace rf::backends {

using engine::Record;
using engine::RecordType;
using engine::Run;
using engine::RunId;
using store::pg::PgLease;
using store::pg::PgResult;
using store::pg::Query;
using detail::ArrayText;

namespace {

const std::vector<store::pg::Statement>& Statements() {
  static const std::vector<store::pg::Statement> kAll = {
      {"rf_fence",
       "SELECT rf_fence($1::smallint[], $2, $3::bigint)",
       3},
      {"rf_records",
       "INSERT INTO run_records (run_id, seq, last_seq, payload, at, ev_seq, ev_last, events) "
       "SELECT r, s, l, p, to_timestamp(a / 1000.0), es, el, ev "
       "FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::bigint[], $6::int[], $7::int[], "
       "$8::text[]) AS x(r, s, l, p, a, es, el, ev) "
       "ON CONFLICT (run_id, seq) DO NOTHING",
       8},
      {"rf_runs",
       "INSERT INTO runs (run_id, partition, workflow, version, status, priority, idempotency_key, "
       "input, output, error, created_at, updated_at, finished_at, deadline_at, epoch, last_seq) "
       "SELECT r, pa, w, v, st, pr, k, i::json, o::json, e::json, to_timestamp(c / 1000.0), "
       "to_timestamp(u / 1000.0), to_timestamp(f / 1000.0), to_timestamp(d / 1000.0), $15::bigint, l "
       "FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::int[], $5::text[], $6::smallint[], "
       "$7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], "
       "$14::bigint[], $16::int[]) AS x(r, pa, w, v, st, pr, k, i, o, e, c, u, f, d, l) "
       "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, output = excluded.output, "
       "error = excluded.error, updated_at = excluded.updated_at, finished_at = excluded.finished_at, "
       "deadline_at = excluded.deadline_at, epoch = excluded.epoch, last_seq = excluded.last_seq "
       "WHERE runs.last_seq < excluded.last_seq AND runs.epoch <= excluded.epoch",
       16},
      {"rf_outbox", "INSERT INTO outbox (data) VALUES ($1)", 1},
      {"rf_timeouts",
       "INSERT INTO timeouts (run_id, step_index, expire_at, completed) "
       "SELECT r, s, to_timestamp(a / 1000.0), c FROM unnest($1::uuid[], $2::int[], $3::bigint[], "
       "$4::bool[]) AS x(r, s, a, c) ON CONFLICT (run_id, step_index) DO UPDATE SET "
       "expire_at = excluded.expire_at, completed = excluded.completed",
       4},
      {"rf_history",
       "SELECT ev_seq, ev_last, events FROM run_records WHERE run_id = $1::uuid AND ev_last > $2::int "
       "ORDER BY seq",
       2},
      {"rf_forget_records", "DELETE FROM run_records WHERE run_id = ANY($1::uuid[])", 1},
      {"rf_forget_runs", "DELETE FROM runs WHERE run_id = ANY($1::uuid[])", 1},
      {"rf_forget_timeouts", "DELETE FROM timeouts WHERE run_id = ANY($1::uuid[])", 1},
  };
  return kAll;
}

// Whether this record ends a step's timer (so its timeouts row is completed):
// a retry starting, a delay ending, an approval answered or timed out. Steps
// that never had a timer get no row at all.
bool TimerConsumed(const Run& run, const Record& r) {
  if (r.step >= run.steps.size()) return false;
  const engine::StepType type = run.def->steps[r.step].type;
  switch (r.type) {
    case RecordType::kStepStarted:
      return run.steps[r.step].attempts.size() > 1;
    case RecordType::kStepSucceeded:
      return type == engine::StepType::kDelay ||
             (type == engine::StepType::kApproval && run.def->steps[r.step].timeout);
    case RecordType::kStepFailed:
      return type == engine::StepType::kApproval && r.due_ms == 0;
    default:
      return false;
  }
}

constexpr Nanos kLeaseRenewal = 10 * kSeconds;  // leases last 30 s
// Day partitions (migration 0003) are made up to two days ahead: checking hourly
// is plenty, and retention passes check too.
constexpr Nanos kEnsurePartitions = 3600 * kSeconds;
constexpr std::string_view kEnsurePartitionsSql =
    "SELECT rf_ensure_partitions((now() AT TIME ZONE 'UTC')::date, "
    "(now() AT TIME ZONE 'UTC')::date + 2)";

std::string PartitionArray(const std::vector<uint32_t>& parts) {
  ArrayText a;
  for (uint32_t p : parts) a.AddInt(p);
  return a.Take();
}

}  // namespace

// --- the batch of one turn -----------------------------------------------------

struct PgRunStore::RunRow {
  std::string id_text;
  uint32_t partition;
  std::string workflow;
  int64_t version;
  std::string status;
  int priority;
  std::string key;
  std::string input, output, error;  // JSON; empty: NULL
  int64_t created, updated, finished, deadline;
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

  std::vector<RunRow> runs;
  std::unordered_map<RunId, size_t, engine::RunIdHash> run_index;

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

reactor::Task<Status> PgRunStore::Open(engine::RecordSink& sink) {
  pool_ = detail::MakePool(options_, options_.pool, Statements());
  if (shard_ == 0) {
    if (Status st = co_await EnsurePartitions(this); !st)  // suspends
      RF_LOG(kWarn, "postgres: day partitions not made; rows go to the DEFAULT partitions",
             {"error", st.error().ToString()});
  }
  auto conn = co_await pool_->Acquire(Deadline::After(30 * kSeconds));  // suspends
  if (!conn) co_return Error{conn.error().code, "PostgreSQL: " + conn.error().context};
  PgLease lease(pool_.get(), *conn);
  const std::string parts = PartitionArray(partitions_);
  // Take this shard's partitions with a new fencing epoch.
  const std::string claim =
      "WITH e AS (SELECT COALESCE(max(epoch), 0) + 1 AS v FROM partition_leases) "
      "INSERT INTO partition_leases (partition, owner, epoch, expires_at) "
      "SELECT p, $2, e.v, now() + interval '30 seconds' FROM unnest($1::smallint[]) AS p, e "
      "ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, "
      "expires_at = excluded.expires_at RETURNING epoch";
  // Every run of the partitions, or only the live ones (runs_live_by_partition):
  // finished runs are then read through PgHistoryStore when asked for.
  const std::string load =
      options_.load_finished
          ? "SELECT r.payload FROM run_records r JOIN runs u ON u.run_id = r.run_id "
            "WHERE u.partition = ANY($1::smallint[]) ORDER BY r.run_id, r.seq"
          : "SELECT r.payload FROM runs u JOIN run_records r ON r.run_id = u.run_id "
            "WHERE u.partition = ANY($1::smallint[]) AND u.status IN ('pending', 'running', "
            "'waiting') ORDER BY r.run_id, r.seq";
  // The pending timers of the live runs (runs_live_by_partition, then the timeouts key).
  const std::string timers =
      "SELECT t.run_id, t.step_index, (extract(epoch FROM t.expire_at) * 1000)::bigint "
      "FROM runs u JOIN timeouts t ON t.run_id = u.run_id "
      "WHERE u.partition = ANY($1::smallint[]) AND u.status IN ('pending', 'running', 'waiting') "
      "AND NOT t.completed";
  Query qs[] = {{.stmt_name_or_sql = claim, .prepared = false, .params = {parts, options_.instance}},
                {.stmt_name_or_sql = load, .prepared = false, .params = {parts}},
                {.stmt_name_or_sql = timers, .prepared = false, .params = {parts}}};
  auto res = co_await (*conn)->Pipeline(qs, Deadline::After(120 * kSeconds));  // suspends
  if (!res) co_return Error{res.error().code, "PostgreSQL: " + res.error().context};
  if (Status st = store::pg::FirstError(*res); !st) co_return st;
  const PgResult& claimed = (*res)[0];
  if (!partitions_.empty()) {
    if (claimed.rows() != static_cast<int>(partitions_.size()))
      co_return Error{Errc::kInternal, "partition lease claim returned too few rows"};
    epoch_ = std::stoll(std::string(claimed.value(0, 0)));
  }
  const PgResult& rows = (*res)[1];
  size_t replayed = 0;
  for (int i = 0; i < rows.rows(); ++i) {
    std::string_view text = rows.value(i, 0);
    while (!text.empty()) {
      size_t nl = text.find('\n');
      if (Status st = sink.OnRecord(text.substr(0, nl)); !st) co_return st;
      ++replayed;
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
  }
  const PgResult& due = (*res)[2];
  for (int i = 0; i < due.rows(); ++i) {
    auto id = engine::ParseRunId(due.value(i, 0));
    if (!id) co_return Error{Errc::kCorrupt, "timeouts: bad run id " + std::string(due.value(i, 0))};
    const int step = std::stoi(std::string(due.value(i, 1)));
    const uint32_t s = step < 0 ? engine::kNoStep : static_cast<uint32_t>(step);
    if (Status st = sink.OnTimer(*id, s, std::stoll(std::string(due.value(i, 2)))); !st) co_return st;
  }
  stats_.pool = &pool_->stats();
  RF_LOG(kInfo, "store opened (postgres)", {"partitions", partitions_.size()}, {"epoch", epoch_},
         {"records_replayed", replayed}, {"timers", due.rows()},
         {"finished_runs_loaded", options_.load_finished});
  lease.Release();
  reactor::Spawn(Committer(this));
  if (!partitions_.empty()) {
    heartbeat_.self = this;
    heartbeat_.fire = &PgRunStore::OnHeartbeat;
    reactor::Shard::Current().Arm(&heartbeat_, MonoNow() + kLeaseRenewal);
  }
  co_return Status{};
}

void PgRunStore::OnHeartbeat(reactor::Shard::TimerNode* n) {
  PgRunStore* self = static_cast<Heartbeat*>(n)->self;
  if (self->closing_) return;
  reactor::Spawn(RenewLeases(self), &self->background_);
}

// Keeps this shard's partition leases alive (expires_at) while it runs. Finding
// them held by someone else, or at another epoch, means another instance took
// over: stop before writing anything more.
reactor::Task<void> PgRunStore::RenewLeases(PgRunStore* self) {
  auto conn = co_await self->pool_->Acquire(detail::StatementDeadline(self->options_));  // suspends
  if (conn) {
    PgLease lease(self->pool_.get(), *conn);
    const std::string parts = PartitionArray(self->partitions_);
    const std::string epoch = std::to_string(self->epoch_);
    Query q[] = {{.stmt_name_or_sql =
                      "UPDATE partition_leases SET expires_at = now() + interval '30 seconds' "
                      "WHERE partition = ANY($1::smallint[]) AND owner = $2 AND epoch = $3::bigint",
                  .prepared = false,
                  .params = {parts, self->options_.instance, epoch}}};
    auto res = co_await lease->Pipeline(q, detail::StatementDeadline(self->options_));  // suspends
    if (res && store::pg::FirstError(*res) &&
        (*res)[0].affected() != self->partitions_.size()) {
      RF_LOG(kError, "postgres: this instance lost its partition leases; stopping",
             {"shard", self->shard_}, {"held", (*res)[0].affected()},
             {"expected", self->partitions_.size()});
      ::_exit(75);
    }
    // A failed renewal (database away) is retried at the next beat; commits stop on
    // their own while it is away.
  }
  if (self->shard_ == 0 && !self->closing_ &&
      MonoNow() - self->partitions_ensured_ >= kEnsurePartitions) {
    if (Status st = co_await EnsurePartitions(self); !st)  // suspends
      RF_LOG(kWarn, "postgres: day partitions not made; retrying at the next beat",
             {"error", st.error().ToString()});
  }
  if (!self->closing_)
    reactor::Shard::Current().Arm(&self->heartbeat_, MonoNow() + kLeaseRenewal);
}

// Makes today's and the next two days' partitions (rf_ensure_partitions, migration
// 0003). On shard 0 only: one caller per instance is enough, and instances take
// turns on the function's advisory lock.
reactor::Task<Status> PgRunStore::EnsurePartitions(PgRunStore* self) {
  auto conn = co_await self->pool_->Acquire(detail::StatementDeadline(self->options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(self->pool_.get(), *conn);
  Query q[] = {{.stmt_name_or_sql = kEnsurePartitionsSql, .prepared = false, .params = {}}};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(self->options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = store::pg::FirstError(*res); !st) co_return st;
  self->partitions_ensured_ = MonoNow();
  if (std::string_view made = (*res)[0].value(0, 0); made != "0")
    RF_LOG(kInfo, "postgres: day partitions made", {"tables", made});
  co_return Status{};
}

uint64_t PgRunStore::Append(const Run& run, const Record& r, uint32_t seq, std::string_view payload) {
  Batch& b = batch();
  b.last_ticket = ++appended_;
  ++b.records;
  b.partitions.insert(run.id.partition());
  RunRow& row = RowOf(b, run);
  if (row.rec_first == 0) row.rec_first = seq;
  if (!row.rec_payload.empty()) row.rec_payload += '\n';  // records are compact JSON: no newlines
  row.rec_payload += payload;
  row.rec_last = seq;
  row.rec_at = r.at_ms;

  if (r.type == RecordType::kRunCreated) row.input = json::ToString(run.input);
  // The runs row is rewritten only when what it shows changes (status, end, deadline):
  // a step finishing inside a running run adds records but leaves the row as it was.
  auto [known, first] = persisted_.try_emplace(run.id, run.status);
  if (first || known->second != run.status || r.type == RecordType::kRunResumed) row.changed = true;
  known->second = run.status;
  if (engine::IsTerminal(run.status)) persisted_.erase(known);
  row.status = engine::RunStatusName(run.status);
  row.updated = run.updated_ms;
  row.finished = run.finished_ms;
  row.deadline = run.deadline_ms;
  if (engine::IsTerminal(run.status)) {
    row.output = run.status == engine::RunStatus::kSucceeded ? json::ToString(run.output) : "";
    if (!run.error.empty()) {
      json::Object e{{"message", run.error}};
      if (!run.failed_step.empty()) e.emplace_back("step", run.failed_step);
      row.error = json::ToString(json::Value(std::move(e)));
    } else {
      row.error.clear();
    }
  } else {
    row.output.clear();
    row.error.clear();
  }

  // Durable timers, mirrored for queries: armed by records with a due time,
  // completed by the transition that consumes them.
  const int step = r.step == engine::kNoStep ? -1 : static_cast<int>(r.step);
  if (r.due_ms && (r.type == RecordType::kStepWaiting || r.type == RecordType::kStepFailed ||
                   r.type == RecordType::kRunCreated || r.type == RecordType::kRunResumed)) {
    b.timeouts[{run.id, step}] = {r.due_ms, false};
  } else if (r.step != engine::kNoStep && TimerConsumed(run, r)) {
    auto key = std::make_pair(run.id, step);
    auto t = b.timeouts.find(key);
    if (t != b.timeouts.end())
      t->second.completed = true;
    else
      b.timeouts[key] = {r.at_ms, true};
  } else if (r.type == RecordType::kRunFinished && run.deadline_ms) {
    b.timeouts[{run.id, -1}] = {r.at_ms, true};
  }
  if (parked_) reactor::Shard::Current().Schedule(std::exchange(parked_, {}));
  return appended_;
}

PgRunStore::RunRow& PgRunStore::RowOf(Batch& b, const Run& run) {
  auto [it, inserted] = b.run_index.emplace(run.id, b.runs.size());
  if (!inserted) return b.runs[it->second];
  RunRow& row = b.runs.emplace_back();
  row.id_text = run.id_text;
  row.partition = run.id.partition();
  row.workflow = run.def->name;
  row.version = run.def->version;
  row.priority = static_cast<int>(run.priority);
  row.key = run.idempotency_key;
  row.created = run.created_ms;
  return row;
}

void PgRunStore::AppendEvents(const Run& run, const std::vector<engine::Event>& events) {
  if (events.empty()) return;
  Batch& b = batch();
  RunRow& row = RowOf(b, run);
  for (const engine::Event& ev : events) {
    if (row.ev_first == 0) row.ev_first = static_cast<uint32_t>(ev.seq);
    row.ev_data += row.ev_data.empty() ? "[" : ",";
    row.ev_data += json::ToString(engine::EventToJsonInRun(ev));
    row.ev_last = static_cast<uint32_t>(ev.seq);
    row.ev_at = ev.at_ms;
    ++b.events;
  }
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
  std::vector<uint32_t> touched(b.partitions.begin(), b.partitions.end());
  const std::string epoch = std::to_string(epoch_);
  if (!touched.empty()) {
    qs.push_back({.stmt_name_or_sql = "rf_fence", .prepared = true,
                  .params = {keep(PartitionArray(touched)), options_.instance, epoch}});
  }
  const size_t fence_index = qs.size() - 1;
  if (b.records) {
    qs.push_back({.stmt_name_or_sql = "rf_runs", .prepared = true, .params = {}});
    ArrayText r, pa, w, v, st, pr, k, in, out, err, c, u, f, d, l;
    ArrayText rr, rs, rl, rp, ra, es, el, ev;
    std::string outbox;
    for (const auto& row : b.runs) {
      // Events come only from records, appended in the same turn: never a row without them.
      RF_CHECK(row.rec_first != 0);
      rr.Add(row.id_text);
      rs.AddInt(row.rec_first);
      rl.AddInt(row.rec_last);
      rp.Add(row.rec_payload);
      ra.AddInt(row.rec_at);
      if (row.ev_first) {
        es.AddInt(row.ev_first);
        el.AddInt(row.ev_last);
        ev.Add(row.ev_data + "]");
        AppendOutboxLine(outbox, row.id_text, row.ev_first, row.ev_last, row.workflow);
      } else {
        es.AddNull();
        el.AddNull();
        ev.AddNull();
      }
      if (!row.changed) continue;
      l.AddInt(row.rec_last);
      r.Add(row.id_text);
      pa.AddInt(row.partition);
      w.Add(row.workflow);
      v.AddInt(row.version);
      st.Add(row.status);
      pr.AddInt(row.priority);
      row.key.empty() ? k.AddNull() : k.Add(row.key);
      row.input.empty() ? in.AddNull() : in.Add(row.input);
      row.output.empty() ? out.AddNull() : out.Add(row.output);
      row.error.empty() ? err.AddNull() : err.Add(row.error);
      c.AddInt(row.created);
      u.AddInt(row.updated);
      f.AddMillisOrNull(row.finished);
      d.AddMillisOrNull(row.deadline);
    }
    for (ArrayText* a : {&r, &pa, &w, &v, &st, &pr, &k, &in, &out, &err, &c, &u, &f, &d})
      qs.back().params.push_back(keep(a->Take()));
    qs.back().params.push_back(epoch);
    qs.back().params.push_back(keep(l.Take()));
    qs.push_back({.stmt_name_or_sql = "rf_records", .prepared = true,
                  .params = {keep(rr.Take()), keep(rs.Take()), keep(rl.Take()), keep(rp.Take()),
                             keep(ra.Take()), keep(es.Take()), keep(el.Take()), keep(ev.Take())}});
    // A resent batch (its COMMIT's outcome was lost) may add a second outbox row with
    // the same events: subscribers drop what they have seen by number.
    if (!outbox.empty())
      qs.push_back({.stmt_name_or_sql = "rf_outbox", .prepared = true, .params = {keep(std::move(outbox))}});
  }
  if (!b.timeouts.empty()) {
    ArrayText r, s, a, c;
    for (const auto& [key, t] : b.timeouts) {
      char id[36];
      key.first.Format(id);
      r.Add(std::string_view(id, sizeof id));
      s.AddInt(key.second);
      a.AddInt(t.expire);
      c.Add(t.completed ? "t" : "f");
    }
    qs.push_back({.stmt_name_or_sql = "rf_timeouts", .prepared = true,
                  .params = {keep(r.Take()), keep(s.Take()), keep(a.Take()), keep(c.Take())}});
  }
  if (!b.forget.empty()) {
    ArrayText ids;
    for (const RunId& id : b.forget) ids.Add(id.ToString());
    std::string_view arr = keep(ids.Take());
    for (const char* stmt : {"rf_forget_records", "rf_forget_runs", "rf_forget_timeouts"})
      qs.push_back({.stmt_name_or_sql = stmt, .prepared = true, .params = {arr}});
  }
  qs.push_back({.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}});

  auto res = co_await lease->Pipeline(qs, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  // rf_fence raised: the transaction was aborted before anything was written.
  if (!touched.empty() && (*res)[fence_index].sqlstate() == "RF001")
    co_return Error{Errc::kConflict, "partition leases lost"};
  if (Status st = store::pg::FirstError(*res); !st) co_return st;
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
    self->stats_.connections_up.Set(static_cast<int64_t>(self->pool_->up()));
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
    co_await pool_->Close();  // suspends
  }
  co_return Status{};
}

reactor::Task<Result<std::vector<engine::OutboxRow>>> PgRunStore::History(const RunId& run,
                                                                          uint64_t after_seq) {
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return conn.error();
  PgLease lease(pool_.get(), *conn);
  const std::string id = run.ToString(), after = std::to_string(after_seq);
  Query q[] = {{.stmt_name_or_sql = "rf_history", .prepared = true, .params = {id, after}}};
  auto res = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
  if (!res) co_return res.error();
  if (Status st = store::pg::FirstError(*res); !st) co_return st.error();
  const PgResult& got = (*res)[0];
  std::vector<engine::OutboxRow> rows;
  rows.reserve(static_cast<size_t>(got.rows()));
  for (int i = 0; i < got.rows(); ++i) {
    rows.push_back(engine::OutboxRow{run, std::stoull(std::string(got.value(i, 0))),
                                     std::stoull(std::string(got.value(i, 1))), {},
                                     std::string(got.value(i, 2))});
  }
  co_return rows;
}

PgStoreFactory::PgStoreFactory(PgOptions options)
    : options_(std::move(options)), relay_(std::make_unique<PgEventRelay>(options_)) {}

PgStoreFactory::~PgStoreFactory() = default;

std::unique_ptr<engine::RunStore> PgStoreFactory::MakeRunStore(unsigned shard,
                                                               std::vector<uint32_t> partitions) {
  auto store = std::make_unique<PgRunStore>(options_, shard, std::move(partitions), relay_.get());
  if (run_stores_.size() <= shard) run_stores_.resize(shard + 1, nullptr);
  run_stores_[shard] = store.get();
  return store;
}

engine::EventRelay* PgStoreFactory::relay() { return relay_.get(); }

engine::HistoryStore* PgStoreFactory::history() {
  if (!history_) {
    // Each call runs on a shard thread and reads only that shard's entry (set
    // before the shards started, its pool set by that shard's Open).
    history_ = std::make_unique<PgHistoryStore>(options_, [this]() -> store::pg::PgPool* {
      const unsigned shard = reactor::Shard::Current().id();
      return shard < run_stores_.size() && run_stores_[shard] ? run_stores_[shard]->pool()
                                                              : nullptr;
    });
  }
  return history_.get();
}

}  // namespace rf::backends
