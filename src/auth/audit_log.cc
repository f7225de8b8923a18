#include "auth/audit_log.h"

#include <algorithm>

#include "obs/log.h"
#include "reactor/shard.h"
#include "reactor/sleep_unless.h"
#include "reactor/submit_to.h"

namespace rf::auth {
namespace {

constexpr unsigned kWriterShard = 0;
constexpr Nanos kFirstBackoff = 50 * kMillis;
constexpr Nanos kMaxBackoff = 2 * kSeconds;
constexpr Nanos kErrorLogEvery = 10 * kSeconds;
// An entry committed on another shard is at most a message hop behind the ones after it; the
// writer waits this long for it before appending the later ones anyway (counted).
constexpr Nanos kReorderWait = 200 * kMillis;
constexpr Nanos kReorderPoll = kMillis / 5;

}  // namespace

// Lives in WriteHere's frame until the writer made it durable (or gave up).
struct AuditLog::Batch {
  std::vector<store::AuditEntry> entries;
  Status status;
  bool done = false;
  std::coroutine_handle<> waiter;

  bool await_ready() const noexcept { return done; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
};

AuditLog::AuditLog(std::unique_ptr<store::AuditStore> store, AuditOptions options, size_t shards)
    : store_(std::move(store)), options_(options) {
  for (size_t i = 0; i < shards; ++i) queues_.push_back(std::make_unique<ShardQueue>());
}

AuditLog::~AuditLog() = default;

bool AuditLog::Reserve(unsigned shard) {
  ShardQueue& q = *queues_[shard];
  if (q.reserved + q.buffer.size() + q.in_flight >= options_.queue) {
    q.rejected.Add();
    return false;
  }
  ++q.reserved;
  Recount(q);
  return true;
}

void AuditLog::Commit(unsigned shard, store::AuditEntry entry) {
  ShardQueue& q = *queues_[shard];
  if (q.reserved > 0) --q.reserved;
  entry.seq = next_commit_.fetch_add(1, std::memory_order_relaxed);
  q.buffer.push_back(std::move(entry));
  Recount(q);
  if (!q.flushing) {
    q.flushing = true;  // the flusher starts on the next loop turn: this turn's entries go together
    reactor::Spawn(Flusher(this, shard), &q.flusher);
  }
}

// One loop turn's entries of this shard, sent to the writer as one batch. It does not wait for
// the previous batch to be durable: the writer keeps the commit order across shards and waits
// for missing sequence numbers, so an entry held back here behind a batch in flight would stall
// every shard's entries behind it (and fill the queues: 503 under load).
reactor::Task<void> AuditLog::Flusher(AuditLog* self, unsigned shard) {
  ShardQueue& q = *self->queues_[shard];
  std::vector<store::AuditEntry> batch = std::exchange(q.buffer, {});
  q.flushing = false;  // the next commit starts the next batch's flusher
  const size_t n = batch.size();
  q.in_flight += n;
  auto op = reactor::SubmitTo(kWriterShard, &AuditLog::WriteHere, self, std::move(batch));
  (void)co_await op;  // suspends until durable; the writer counts and logs a failure
  q.in_flight -= n;
  self->Recount(q);
}

reactor::Task<Status> AuditLog::WriteHere(AuditLog* self, std::vector<store::AuditEntry> entries) {
  if (self->stopping_ && !self->open_) {  // a request finished after Close (a drain timed out)
    self->dropped_.Add(entries.size());
    co_return Error{Errc::kUnavailable, "the audit log is closed"};
  }
  Batch batch;
  batch.entries = std::move(entries);
  self->pending_.push_back(&batch);
  if (self->open_ && !self->writing_) {
    self->writing_ = true;
    reactor::Spawn(Writer(self), &self->writer_);
  }
  co_await batch;  // suspends until the writer has written it
  co_return batch.status;
}

bool AuditLog::PendingInOrder() const {
  std::vector<uint64_t> seqs;
  for (const Batch* b : pending_)
    for (const store::AuditEntry& e : b->entries) seqs.push_back(e.seq);
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i] != next_write_ + i) return false;
  return true;
}

reactor::Task<void> AuditLog::Writer(AuditLog* self) {
  Nanos logged = 0;
  while (!self->pending_.empty()) {
    // Entries committed earlier on another shard may still be on their way: wait for them so
    // the ids keep the commit order.
    const Nanos wait_until = MonoNow() + kReorderWait;
    while (!self->PendingInOrder() && !self->stopping_ && MonoNow() < wait_until)
      co_await reactor::Sleep(kReorderPoll);  // suspends
    if (!self->PendingInOrder()) self->reorder_timeouts_.Add();
    std::vector<Batch*> batches = std::exchange(self->pending_, {});
    std::vector<store::AuditEntry> all;
    for (Batch* b : batches)
      std::move(b->entries.begin(), b->entries.end(), std::back_inserter(all));
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (!all.empty()) self->next_write_ = std::max(self->next_write_, all.back().seq + 1);
    Nanos backoff = kFirstBackoff;
    Status st;
    while (true) {
      co_await self->store_turn_.Take();  // suspends
      st = co_await self->store_->Append(all);  // suspends
      self->store_turn_.Release();
      if (st) break;
      self->write_errors_.Add();
      if (MonoNow() - logged >= kErrorLogEvery) {
        logged = MonoNow();
        RF_LOG(kError, "audit log: cannot write; retrying, and mutations are refused (503) once the "
                       "queue fills", {"entries", all.size()}, {"error", st.error().ToString()});
      }
      if (self->stopping_ && MonoNow() >= self->stop_by_) break;
      co_await reactor::Sleep(backoff);  // suspends
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    if (st) {
      self->written_.Add(all.size());
    } else {
      self->dropped_.Add(all.size());
      RF_LOG(kError, "audit log: entries lost at shutdown (the store kept failing)", {"entries", all.size()});
    }
    for (Batch* b : batches) {
      b->status = st;
      b->done = true;
      if (b->waiter) reactor::Shard::Current().Schedule(b->waiter);
    }
  }
  self->writing_ = false;
}

reactor::Task<void> AuditLog::Retention(AuditLog* self) {
  while (co_await reactor::SleepUnless(self->options_.trim_interval, self->stopping_)) {  // suspends
    store::Leadership* leader = self->leader_;
    const std::string_view job = store::kJobAuditRetention;
    if (leader && !leader->Leads(job)) continue;  // another daemon of the cluster trims
    const int64_t term = leader ? leader->Term(job) : 0;
    const int64_t before_ms = (WallNow() - self->options_.retention) / 1'000'000;
    co_await self->store_turn_.Take();  // suspends
    auto n = co_await self->store_->Trim(before_ms, term);  // suspends
    self->store_turn_.Release();
    if (n && leader) leader->CountRun(job);
    if (!n && n.error().code == Errc::kConflict) {
      RF_LOG(kInfo, "audit log retention skipped: no longer the leader", {"term", term});
    } else if (!n) {
      RF_LOG(kWarn, "audit log retention failed; trying again later", {"error", n.error().ToString()});
    } else if (*n > 0) {
      RF_LOG(kInfo, "audit log retention removed old entries", {"removed", *n}, {"before_ms", before_ms});
    }
  }
}

reactor::Task<Status> AuditLog::Open() {
  Status st = co_await store_->Open();  // suspends
  if (!st) co_return st;
  open_ = true;
  if (!pending_.empty() && !writing_) {
    writing_ = true;
    reactor::Spawn(Writer(this), &writer_);
  }
  reactor::Spawn(Retention(this), &retention_);
  co_return Status{};
}

size_t AuditLog::Held(AuditLog* self, unsigned shard) {
  const ShardQueue& q = *self->queues_[shard];
  return q.reserved + q.buffer.size() + q.in_flight;
}

reactor::Task<void> AuditLog::Close() {
  stopping_ = true;
  stop_by_ = MonoNow() + options_.close_timeout;
  if (!open_) co_return;
  for (unsigned i = 0; i < queues_.size(); ++i) {
    while (MonoNow() < stop_by_) {
      auto op = reactor::SubmitTo(i, &AuditLog::Held, this, i);
      if (co_await op == 0) break;  // suspends
      co_await reactor::Sleep(10 * kMillis);  // suspends
    }
  }
  co_await writer_.Wait();     // suspends
  co_await retention_.Wait();  // suspends
  Status st = co_await store_->Close();  // suspends
  if (!st) RF_LOG(kWarn, "audit log close failed", {"error", st.error().ToString()});
  open_ = false;
}

reactor::Task<Result<store::AuditPage>> AuditLog::Query(store::AuditQuery q) {
  auto op = reactor::SubmitTo(
      kWriterShard,
      [](AuditLog* self, store::AuditQuery query) -> reactor::Task<Result<store::AuditPage>> {
        if (!self->open_) co_return Error{Errc::kUnavailable, "the audit log is not open yet"};
        co_return co_await self->store_->Query(std::move(query));  // suspends
      },
      this, std::move(q));
  co_return co_await op;  // suspends
}

void AuditLog::RenderMetrics(std::string& out) const {
  obs::TextExposition x(out);
  uint64_t held = 0, rejected = 0;
  for (const auto& q : queues_) {
    held += static_cast<uint64_t>(std::max<int64_t>(q->held.Get(), 0));
    rejected += q->rejected.Get();
  }
  x.Family("rf_audit_written_total", "counter", "audit entries made durable");
  x.SampleU("rf_audit_written_total", "", written_.Get());
  x.Family("rf_audit_rejected_total", "counter",
           "mutations refused with 503 before they ran because the audit queue was full (the log "
           "fails closed: nothing is dropped)");
  x.SampleU("rf_audit_rejected_total", "", rejected);
  x.Family("rf_audit_queue_entries", "gauge", "audit entries reserved, buffered or being written, all shards");
  x.SampleU("rf_audit_queue_entries", "", held);
  x.Family("rf_audit_write_errors_total", "counter", "failed writes of an audit batch (retried)");
  x.SampleU("rf_audit_write_errors_total", "", write_errors_.Get());
  x.Family("rf_audit_dropped_total", "counter",
           "audit entries lost at shutdown: the store still failed, or the request ended after "
           "the drain timeout closed the log");
  x.SampleU("rf_audit_dropped_total", "", dropped_.Get());
  x.Family("rf_audit_reorder_timeouts_total", "counter",
           "writes that stopped waiting for an entry committed earlier on another shard (ids may "
           "then be out of commit order)");
  x.SampleU("rf_audit_reorder_timeouts_total", "", reorder_timeouts_.Get());
}

}  // namespace rf::auth
