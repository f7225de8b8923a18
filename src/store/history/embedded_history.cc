#include "store/history/embedded_history.h"

#include <cstring>

#include "obs/log.h"
#include "obs/metrics.h"

namespace rf::store::history {
namespace {

std::string IdBytes(const RunId& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

RunId IdFrom(std::string_view b) {
  RunId id;
  std::memcpy(id.bytes.data(), b.data(), std::min(b.size(), id.bytes.size()));
  return id;
}

}  // namespace

// The two Prior enums name the same three cases: HistoryDb does not depend on the store interface.
static_assert(static_cast<int>(Entry::Prior::kNone) == static_cast<int>(HistoryRun::Prior::kNone) &&
              static_cast<int>(Entry::Prior::kMaybe) == static_cast<int>(HistoryRun::Prior::kMaybe) &&
              static_cast<int>(Entry::Prior::kOlder) == static_cast<int>(HistoryRun::Prior::kOlder));

Entry ToEntry(HistoryRun r) {
  Entry e;
  e.id = IdBytes(r.id);
  e.workflow = std::move(r.workflow);
  e.version = r.version;
  e.status = static_cast<uint8_t>(r.status);
  e.created_ms = r.created_ms;
  e.finished_ms = r.finished_ms;
  e.key = std::move(r.idempotency_key);
  e.error = std::move(r.error);
  e.failed_step = std::move(r.failed_step);
  e.log = std::move(r.log);
  e.prior = static_cast<Entry::Prior>(r.prior);
  return e;
}

HistoryRun FromEntry(Entry e) {
  HistoryRun r;
  r.id = IdFrom(e.id);
  r.workflow = std::move(e.workflow);
  r.version = e.version;
  r.status = e.status <= static_cast<uint8_t>(RunStatus::kCancelled) ? static_cast<RunStatus>(e.status)
                                                                     : RunStatus::kFailed;
  r.created_ms = e.created_ms;
  r.finished_ms = e.finished_ms;
  r.idempotency_key = std::move(e.key);
  r.error = std::move(e.error);
  r.failed_step = std::move(e.failed_step);
  r.log = std::move(e.log);
  return r;
}

namespace {

Result<std::optional<HistoryRun>> FromLookup(Result<std::optional<Entry>> r) {
  if (!r) return r.error();
  if (!*r) return std::optional<HistoryRun>();
  return std::optional<HistoryRun>(FromEntry(std::move(**r)));
}

}  // namespace

EmbeddedHistoryStore::EmbeddedHistoryStore(EmbeddedHistoryOptions options)
    : options_(std::move(options)) {}

EmbeddedHistoryStore::~EmbeddedHistoryStore() { Close(); }

Status EmbeddedHistoryStore::Open() {
  Options o;
  o.common_status = static_cast<uint8_t>(RunStatus::kSucceeded);
  o.dir = options_.dir;
  o.sync = options_.fsync;
  o.block_cache_bytes = options_.block_cache_bytes;
  o.inline_page_cache = options_.inline_page_cache;
  o.on_bytes = bytes_sink_;
  const Nanos t0 = MonoNow();
  auto db = HistoryDb::Open(o);
  if (!db) return db.error();
  db_ = std::move(*db);
  // Two lookup helpers (GETs of different runs in parallel) and one writer
  // (writes are serialised anyway). Lanes are bounded: a shard that finds one
  // full gets kUnavailable at once.
  pool_ = std::make_unique<HistoryPool>(2, 1, 4096, 256);
  // open_ms includes reading the namespaces' retained bytes (one key each): restart time.
  RF_LOG(kInfo, "history store opened", {"dir", o.dir}, {"table_bytes", db_->DiskBytes()},
         {"open_ms", (MonoNow() - t0) / kMillis},
         {"inline_reads", db_->reads_page_cache() ? "memory and page cache" : "memory only"});
  return {};
}

Result<std::unique_ptr<EmbeddedHistoryStore>> EmbeddedHistoryStore::OpenSecondary(
    const std::string& dir, const std::string& scratch) {
  Options o;
  o.common_status = static_cast<uint8_t>(RunStatus::kSucceeded);
  o.dir = dir;
  o.secondary_dir = scratch;
  auto db = HistoryDb::Open(o, true);
  if (!db) return db.error();
  auto h = std::make_unique<EmbeddedHistoryStore>(EmbeddedHistoryOptions{dir, false, 8 << 20});
  h->db_ = std::move(*db);
  return h;
}

void EmbeddedHistoryStore::RenderMetrics(std::string& out) const {
  if (!db_) return;
  HistoryDb::Memory m = db_->MemoryUse();
  obs::TextExposition x(out);
  x.Family("rf_history_memory_bytes", "gauge",
           "What the history store holds in memory: its memtables (charged to the block cache), the "
           "block cache's use with that charge, its capacity (the bound of both), and open tables' "
           "memory outside the cache.");
  x.SampleU("rf_history_memory_bytes", "part=\"memtables\"", m.memtables);
  x.SampleU("rf_history_memory_bytes", "part=\"cache\"", m.cache);
  x.SampleU("rf_history_memory_bytes", "part=\"cache_capacity\"", m.cache_capacity);
  x.SampleU("rf_history_memory_bytes", "part=\"table_readers\"", m.table_readers);
  x.Family("rf_history_background_jobs", "gauge", "The history store's flushes and compactions running now.");
  x.SampleU("rf_history_background_jobs", "job=\"flush\"", m.flushes);
  x.SampleU("rf_history_background_jobs", "job=\"compaction\"", m.compactions);
}

void EmbeddedHistoryStore::Close() {
  pool_.reset();  // runs what is queued, joins the helpers
  db_.reset();
}

void EmbeddedHistoryStore::Account(bool read, Nanos queued_at, size_t written) {
  std::lock_guard lock(stats_mu_);
  const Nanos took = MonoNow() - queued_at;
  if (read) {
    stats_.reads.Add();
    stats_.read_latency.ObserveNanos(took);
  } else if (written) {
    stats_.runs_written.Add(written);
    stats_.write_batches.Add();
    stats_.write_latency.ObserveNanos(took);
  }
  stats_.queued.Set(pool_ ? pool_->stats().queued.load(std::memory_order_relaxed) : 0);
  stats_.rejected.Set(pool_ ? static_cast<int64_t>(pool_->stats().rejected.load(std::memory_order_relaxed)) : 0);
}

reactor::Task<Status> EmbeddedHistoryStore::Put(std::vector<HistoryRun> runs) {
  std::vector<Entry> entries;
  entries.reserve(runs.size());
  for (HistoryRun& r : runs) entries.push_back(ToEntry(std::move(r)));
  const Nanos t0 = MonoNow();
  co_return co_await pool_->Run(Lane::kBulk, [this, &entries, t0]() -> Status {  // suspends
    Status st = db_->Write(entries);
    Account(false, t0, st ? entries.size() : 0);
    return st;
  });
}

template <class F>
auto EmbeddedHistoryStore::Lookup(F fn) {
  return pool_->Run(Lane::kLookup, [this, fn = std::move(fn), t0 = MonoNow()] {
    auto r = fn();
    Account(true, t0, 0);
    return r;
  });
}

template <class R>
bool EmbeddedHistoryStore::Inline(const R& r) {
  const bool hit = r || r.error().code != kNotInMemory;
  auto* shard = reactor::Shard::CurrentOrNull();
  auto& slot = stats_.inline_reads[(shard ? shard->id() : 0) % HistoryStats::kInlineSlots];
  (hit ? slot.hit : slot.fallback).Add();
  return hit;
}

reactor::Task<Result<std::optional<HistoryRun>>> EmbeddedHistoryStore::Get(RunId id) {
  auto now = GetNow(id);
  if (now || now.error().code != kNotInMemory) co_return now;
  auto r = co_await Lookup([this, &id] { return db_->Get(IdBytes(id)); });  // suspends
  co_return FromLookup(std::move(r));
}

Result<std::optional<HistoryRun>> EmbeddedHistoryStore::GetNow(RunId id) {
  auto r = db_->Get(IdBytes(id), Tier::kMemory);
  Inline(r);
  return FromLookup(std::move(r));
}

Result<std::optional<std::string>> EmbeddedHistoryStore::LogNow(RunId id) {
  auto r = db_->Log(IdBytes(id), Tier::kMemory);
  Inline(r);
  return r;
}

reactor::Task<Result<std::optional<std::string>>> EmbeddedHistoryStore::LogAfterMiss(RunId id) {
  co_return co_await Lookup([this, &id] { return db_->Log(IdBytes(id)); });  // suspends
}

reactor::Task<Result<std::optional<RunId>>> EmbeddedHistoryStore::FindKey(std::string workflow,
                                                                          std::string key) {
  auto r = db_->FindKey(workflow, key, Tier::kMemory);
  if (!Inline(r)) {
    r = co_await Lookup([&] { return db_->FindKey(workflow, key); });  // suspends
  }
  if (!r) co_return r.error();
  if (!*r || (*r)->size() != 16) co_return std::optional<RunId>();
  co_return std::optional<RunId>(IdFrom(**r));
}

reactor::Task<Result<std::vector<HistoryRun>>> EmbeddedHistoryStore::List(HistoryQuery q) {
  Query dq;
  dq.workflow = std::move(q.workflow);
  dq.ns = std::move(q.ns);
  if (q.status) dq.status = static_cast<uint8_t>(*q.status);
  if (q.before) dq.before = IdBytes(*q.before);
  dq.limit = q.limit + 1;
  auto r = db_->List(dq, Tier::kMemory);
  if (!Inline(r)) {
    r = co_await Lookup([&] { return db_->List(dq); });  // suspends
  }
  if (!r) co_return r.error();
  std::vector<HistoryRun> out;
  out.reserve(r->size());
  for (auto& e : *r) out.push_back(FromEntry(std::move(e)));
  co_return out;
}

reactor::Task<Status> EmbeddedHistoryStore::Remove(RunId id) {
  co_return co_await pool_->Run(Lane::kBulk, [&] { return db_->Remove(IdBytes(id)); });  // suspends
}

reactor::Task<Result<size_t>> EmbeddedHistoryStore::Expire(int64_t cutoff_ms, size_t max, int64_t /*term*/) {
  auto r = co_await pool_->Run(Lane::kBulk, [&]() -> Result<size_t> {  // suspends
    auto n = db_->Expire(cutoff_ms, max);
    if (n) {
      std::lock_guard lock(stats_mu_);
      stats_.runs_expired.Add(*n);
    }
    return n;
  });
  co_return r;
}

Status EmbeddedHistoryStore::Export(int64_t before_ms,
                                    const std::function<Status(const HistoryRun&)>& out) {
  return db_->Scan(before_ms, [&](const Entry& e) {
    return out(FromEntry(e));
  });
}

}  // namespace rf::store::history
