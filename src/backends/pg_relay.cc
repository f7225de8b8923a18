#include "backends/pg_relay.h"

#include <string>
#include <vector>

#include "backends/detail/pg_setup.h"
#include "obs/log.h"

namespace rf::backends {

using store::pg::PgLease;
using store::pg::Query;

namespace {

const std::vector<store::pg::Statement>& RelayStatements() {
  static const std::vector<store::pg::Statement> kAll = {
      {"rf_relay_take",
       "SELECT id, run_id, seq, last_seq, workflow, data FROM events WHERE relayed_at IS NULL "
       "ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED",
       1},
      {"rf_relay_mark", "UPDATE events SET relayed_at = now() WHERE id = ANY($1::bigint[])", 1},
  };
  return kAll;
}

}  // namespace

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

reactor::Task<Status> PgEventRelay::Open(Deliver deliver) {
  deliver_ = std::move(deliver);
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
    while (!self->closing_) {
      self->nudged_.store(false, std::memory_order_release);
      int rows = co_await self->Drain();  // suspends
      if (rows < 0) {
        co_await reactor::Sleep(backoff);  // suspends: the database is away
        backoff = std::min<Nanos>(backoff * 2, 2 * kSeconds);
        self->nudged_.store(true, std::memory_order_release);  // try again
        break;
      }
      backoff = 50 * kMillis;
      if (rows < kBatchRows) break;
    }
  }
}

reactor::Task<int> PgEventRelay::Drain() {
  auto conn = co_await pool_->Acquire(detail::StatementDeadline(options_));  // suspends
  if (!conn) co_return -1;
  PgLease lease(pool_.get(), *conn);
  const std::string limit = std::to_string(kBatchRows);
  Query take[] = {{.stmt_name_or_sql = "BEGIN", .prepared = false, .params = {}},
                  {.stmt_name_or_sql = "rf_relay_take", .prepared = true, .params = {limit}}};
  auto res = co_await lease->Pipeline(take, detail::StatementDeadline(options_));  // suspends
  if (!res || !store::pg::FirstError(*res)) co_return -1;  // Pipeline rolled a failed BEGIN back
  const store::pg::PgResult& got = (*res)[1];
  std::vector<engine::OutboxRow> rows;
  rows.reserve(static_cast<size_t>(got.rows()));
  std::string ids = "{";
  for (int i = 0; i < got.rows(); ++i) {
    auto id = engine::ParseRunId(got.value(i, 1));
    if (ids.size() > 1) ids += ',';
    ids += got.value(i, 0);
    if (!id) continue;  // not ours to understand: mark it anyway so it is not retaken forever
    rows.push_back(engine::OutboxRow{*id, std::stoull(std::string(got.value(i, 2))),
                                     std::stoull(std::string(got.value(i, 3))),
                                     std::string(got.value(i, 4)), std::string(got.value(i, 5))});
  }
  ids += '}';
  if (!rows.empty()) deliver_(rows);
  Query mark[] = {{.stmt_name_or_sql = "rf_relay_mark", .prepared = true, .params = {ids}},
                  {.stmt_name_or_sql = "COMMIT", .prepared = false, .params = {}}};
  auto marked = co_await lease->Pipeline(mark, detail::StatementDeadline(options_));  // suspends
  if (!marked || !store::pg::FirstError(*marked)) {
    // Delivered but not marked: the rows come again, and receivers drop them by number.
    RF_LOG(kWarn, "postgres: outbox relay could not mark a batch; it will be delivered again",
           {"rows", got.rows()});
    co_return -1;
  }
  delivered_.fetch_add(static_cast<uint64_t>(got.rows()), std::memory_order_relaxed);
  co_return got.rows();
}

reactor::Task<void> PgEventRelay::Close() {
  closing_ = true;
  Wake();
  co_await loop_.Wait();  // suspends
  if (pool_) co_await pool_->Close();  // suspends
}

}  // namespace rf::backends
