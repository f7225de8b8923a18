#include "store/postgres/pg_relay.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "obs/log.h"
#include "store/postgres/detail/array_text.h"
#include "store/postgres/detail/pg_setup.h"
#include "store/postgres/detail/text.h"

namespace rf::store::pg {


namespace {

// The oldest outbox rows this instance relays, locked so that another relay skips them: rows
// naming a partition it holds (`parts`, one row per group commit, migration 0016; `partition`,
// one row per partition and commit, 0006) and rows from before 0006, which name none. The third
// column says whether the row may name runs held elsewhere (Drain writes those back).
struct TakeOutbox {
  static constexpr std::string_view kName = "rf_relay_take";
  static constexpr std::string_view kSql =
      "SELECT id, data, parts IS NOT NULL FROM outbox WHERE partition = ANY($2::smallint[]) OR "
      "(partition IS NULL AND (parts IS NULL OR parts && $2::smallint[])) "
      "ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED";
  static constexpr int kParams = 2;
  std::string limit;
  std::string partitions;  // array
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {limit, partitions}}; }
};

// The lines of a taken row whose runs are held elsewhere, one row per partition (0006's form),
// for their holders' relays; in the transaction that deletes the row.
struct WriteBackOutbox {
  static constexpr std::string_view kName = "rf_relay_back";
  static constexpr std::string_view kSql =
      "INSERT INTO outbox (partition, data) SELECT p, d FROM unnest($1::smallint[], $2::text[]) AS t(p, d)";
  static constexpr int kParams = 2;
  std::string partitions;  // array
  std::string data;        // array: each partition's lines
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {partitions, data}}; }
};

struct DeleteOutbox {
  static constexpr std::string_view kName = "rf_relay_done";
  static constexpr std::string_view kSql = "DELETE FROM outbox WHERE id = ANY($1::bigint[])";
  static constexpr int kParams = 1;
  std::string ids;  // array
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {ids}}; }
};

// The events of (run, first event) pairs, answered by the pair's position (from 1). One index
// lookup per pair (LATERAL): as a plain join the planner, which guesses an unnest's rows, chose a
// parallel hash join over a sequential scan of every run_records row of the day (64 ms at 32,000
// rows, and growing with the table) for a batch of 20.
struct SelectOutboxEvents {
  static constexpr std::string_view kName = "rf_relay_data";
  static constexpr std::string_view kSql =
      "SELECT k.i, e.events FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS k(r, s, i) "
      "CROSS JOIN LATERAL (SELECT x.events FROM run_records x WHERE x.run_id = k.r AND x.ev_seq = k.s "
      "LIMIT 1) e";
  static constexpr int kParams = 2;
  std::string run_ids;    // array
  std::string first_seqs; // array
  Query Bind() const { return {.stmt_name_or_sql = kName, .prepared = true, .params = {run_ids, first_seqs}}; }
};

const std::vector<Statement>& RelayStatements() {
  static const std::vector<Statement> kAll = {detail::Prepare<TakeOutbox>(), detail::Prepare<DeleteOutbox>(),
                                              detail::Prepare<WriteBackOutbox>(),
                                              detail::Prepare<SelectOutboxEvents>()};
  return kAll;
}

}  // namespace

bool ParseOutbox(std::string_view data, std::vector<OutboxRow>& out) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
    std::string_view f[4];
    for (int i = 0; i < 3; ++i) {
      size_t tab = line.find('\t');
      if (tab == std::string_view::npos) return false;
      f[i] = line.substr(0, tab);
      line.remove_prefix(tab + 1);
    }
    f[3] = line;
    auto id = ParseRunId(f[0]);
    uint64_t first = 0, last = 0;
    auto a = std::from_chars(f[1].data(), f[1].data() + f[1].size(), first);
    auto b = std::from_chars(f[2].data(), f[2].data() + f[2].size(), last);
    if (!id || a.ec != std::errc() || a.ptr != f[1].data() + f[1].size() || b.ec != std::errc() ||
        b.ptr != f[2].data() + f[2].size() || first == 0 || last < first || f[3].empty() ||
        f[3].find('\t') != std::string_view::npos)
      return false;
    out.push_back(OutboxRow{*id, first, last, std::string(f[3]), {}});
  }
  return true;
}

void AppendOutboxLine(std::string& out, std::string_view run, uint64_t first, uint64_t last,
                      std::string_view workflow) {
  out += run;
  out += '\t';
  out += std::to_string(first);
  out += '\t';
  out += std::to_string(last);
  out += '\t';
  out += workflow;
  out += '\n';
}

void SplitHeld(std::vector<OutboxRow>& rows, size_t from, const std::vector<bool>& held,
               std::vector<std::pair<uint32_t, std::string>>& elsewhere) {
  size_t kept = from;
  for (size_t i = from; i < rows.size(); ++i) {
    const uint32_t p = rows[i].run.partition();
    if (p < held.size() && held[p]) {
      if (kept != i) rows[kept] = std::move(rows[i]);
      ++kept;
      continue;
    }
    auto to = std::find_if(elsewhere.begin(), elsewhere.end(), [&](const auto& e) { return e.first == p; });
    if (to == elsewhere.end()) to = elsewhere.insert(elsewhere.end(), {p, std::string()});
    AppendOutboxLine(to->second, rows[i].run.ToString(), rows[i].first_seq, rows[i].last_seq, rows[i].workflow);
  }
  rows.resize(kept);
}

// The loop's wait: resumed by a nudge, the poll timer or Close.
class PgEventRelay::Idle {
 public:
  explicit Idle(PgEventRelay& r) : r_(r) {}
  bool await_ready() const noexcept { return r_.closing_ || r_.nudged_.load(std::memory_order_acquire); }
  void await_suspend(std::coroutine_handle<> h) {
    r_.idle_ = h;
    reactor::Shard::Current().Arm(&r_.poll_, MonoNow() + kPollInterval);
  }
  void await_resume() noexcept { reactor::Shard::Current().Disarm(&r_.poll_); }

 private:
  PgEventRelay& r_;
};

PgEventRelay::~PgEventRelay() = default;

reactor::Task<Status> PgEventRelay::Open(Deliver deliver, Wanted wanted, Held held) {
  deliver_ = std::move(deliver);
  wanted_ = std::move(wanted);
  held_ = std::move(held);
  shard_ = reactor::Shard::Current().id();
  pool_ = detail::MakePool(options_, 1, RelayStatements());
  poll_.self = this;
  poll_.fire = [](reactor::Shard::TimerNode* n) { static_cast<Poll*>(n)->self->Wake(); };
  reactor::Spawn(Loop(this), &loop_);
  co_return Status{};
}

void PgEventRelay::Nudge() {
  if (nudged_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is on its way
  reactor::Shard& here = reactor::Shard::Current();
  if (here.id() == shard_)
    Wake();
  else
    here.Post(shard_, reactor::Message{&PgEventRelay::WakeHere, this});
}

void PgEventRelay::WakeHere(void* p) { static_cast<PgEventRelay*>(p)->Wake(); }

void PgEventRelay::Wake() {
  if (idle_) reactor::Shard::Current().Schedule(std::exchange(idle_, {}));
}

reactor::Task<void> PgEventRelay::Loop(PgEventRelay* self) {
  Nanos backoff = 50 * kMillis;
  while (!self->closing_) {
    co_await Idle(*self);  // suspends until nudged, polled or closed
    if (self->closing_) break;
    // Drain until a batch comes back short: the nudges that arrive meanwhile
    // are covered by the next SELECT.
    bool behind = false;
    while (!self->closing_) {
      // Under load, drains a few milliseconds apart take bigger batches: fewer
      // transactions for the database, at most that much later on the streams.
      if (const Nanos next = self->last_drain_ + kMinSpacing; !behind && next > MonoNow())
        co_await reactor::Sleep::Until(next);  // suspends
      self->last_drain_ = MonoNow();
      self->nudged_.store(false, std::memory_order_release);
      int rows = co_await self->Drain();  // suspends
      if (rows >= 0) {
        self->stats_.drains.Add();
        self->stats_.rows.Add(static_cast<uint64_t>(rows));
        if (rows >= kBatchRows) self->stats_.full_drains.Add();
      }
      if (rows < 0) {
        co_await reactor::Sleep(backoff);  // suspends: the database is away
        backoff = std::min<Nanos>(backoff * 2, 2 * kSeconds);
        self->nudged_.store(true, std::memory_order_release);  // try again
        break;
      }
      backoff = 50 * kMillis;
      if (rows < kBatchRows) break;
      behind = true;
    }
  }
}

reactor::Task<int> PgEventRelay::Drain() {
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return -1;
  PgLease lease(pool_.get(), *conn);
  const std::vector<uint32_t> held_now = held_();
  detail::ArrayText held;
  for (uint32_t p : held_now) held.AddInt(p);
  const TakeOutbox take_rows{.limit = std::to_string(kBatchRows), .partitions = held.Take()};
  Query take[] = {{.stmt_name_or_sql = "BEGIN", .prepared = false, .params = {}},
                  {.stmt_name_or_sql = "SET LOCAL synchronous_commit TO off", .prepared = false, .params = {}},
                  take_rows.Bind()};
  auto res = co_await lease->Pipeline(take, detail::StatementDeadline(options_));  // suspends
  if (!res || !FirstError(*res)) co_return -1;  // Pipeline rolled a failed BEGIN back
  const PgResult& got = (*res)[2];
  std::vector<bool> held_here;
  for (uint32_t p : held_now) {
    if (p >= held_here.size()) held_here.resize(p + 1);
    held_here[p] = true;
  }
  std::vector<OutboxRow> rows;
  std::vector<std::pair<uint32_t, std::string>> elsewhere;  // partition -> lines for its holder
  size_t split = 0;                                          // lines in `elsewhere`
  detail::ArrayText ids;
  for (int i = 0; i < got.rows(); ++i) {
    ids.Add(got.value(i, 0));
    const size_t before = rows.size();
    // A line this build cannot read is skipped, not retaken forever.
    if (!ParseOutbox(got.value(i, 1), rows))
      RF_LOG(kWarn, "postgres: unreadable outbox row skipped", {"id", std::string(got.value(i, 0))});
    // A commit's partitions were its instance's; some may have moved since.
    if (got.value(i, 2) == "t") {
      const size_t parsed = rows.size();
      SplitHeld(rows, before, held_here, elsewhere);
      split += parsed - rows.size();
    }
  }
  // The events themselves are read only when someone listens. They were committed with
  // the outbox row that names them, so they are visible whenever it is.
  if (!rows.empty() && wanted_()) {
    detail::ArrayText runs, seqs;
    for (const OutboxRow& r : rows) {
      runs.Add(r.run.ToString());
      seqs.AddInt(static_cast<int64_t>(r.first_seq));
    }
    const SelectOutboxEvents events{.run_ids = runs.Take(), .first_seqs = seqs.Take()};
    Query q[] = {events.Bind()};
    auto data = co_await lease->Pipeline(q, detail::StatementDeadline(options_));  // suspends
    if (!data || !FirstError(*data)) co_return -1;  // the transaction ends with the lease
    const PgResult& got_data = (*data)[0];
    for (int i = 0; i < got_data.rows(); ++i) {
      size_t k = 0;
      if (detail::ParseInt(got_data.value(i, 0), k) && k >= 1 && k <= rows.size())
        rows[k - 1].data = got_data.value(i, 1);
    }
  }
  if (!rows.empty()) deliver_(rows);
  const DeleteOutbox remove{.ids = ids.Take()};
  std::vector<Query> done = {remove.Bind()};
  WriteBackOutbox back;
  if (!elsewhere.empty()) {
    detail::ArrayText parts, data;
    for (const auto& [p, lines] : elsewhere) {
      parts.AddInt(p);
      data.Add(lines);
    }
    back = {.partitions = parts.Take(), .data = data.Take()};
    done.push_back(back.Bind());
  }
  done.push_back({.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}});
  auto deleted = co_await lease->Pipeline(done, detail::StatementDeadline(options_));  // suspends
  if (!deleted || !FirstError(*deleted)) {
    // Delivered but still in the outbox: the rows come again, and receivers drop them by number.
    RF_LOG(kWarn, "postgres: outbox relay could not delete a batch; it will be delivered again",
           {"rows", got.rows()});
    co_return -1;
  }
  if (split) {
    stats_.written_back.Add(split);
    RF_LOG(kInfo, "postgres: outbox lines of partitions held elsewhere written back for their holders",
           {"partitions", elsewhere.size()}, {"lines", split});
  }
  co_return got.rows();
}

void PgEventRelay::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  auto one = [&](const char* name, const char* help, const obs::Counter& c) {
    x.Family(name, "counter", help);
    x.Sample(name, "", static_cast<double>(c.Get()));
  };
  one("rf_outbox_drains_total", "Outbox relay transactions (PostgreSQL).", stats_.drains);
  one("rf_outbox_full_drains_total",
      "Outbox relay transactions that took a full batch: rows were waiting (the relay was behind).",
      stats_.full_drains);
  one("rf_outbox_rows_total", "Outbox rows the relay took (one per group commit).", stats_.rows);
  one("rf_outbox_written_back_total",
      "Outbox lines of partitions held by another instance, written back for their holders.",
      stats_.written_back);
}

reactor::Task<void> PgEventRelay::Close() {
  closing_ = true;
  Wake();
  co_await loop_.Wait();  // suspends
  if (pool_) co_await pool_->Close();  // suspends
}

}  // namespace rf::store::pg
