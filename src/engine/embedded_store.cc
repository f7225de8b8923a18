#include "engine/embedded_store.h"

#include "engine/run_log.h"
#include "obs/log.h"

namespace rf::engine {

void RenderStoreMetrics(const std::vector<const StoreStats*>& parts, std::string& out) {
  if (parts.empty()) return;
  obs::TextExposition x(out);
  auto sum = [&](const char* name, const char* type, const char* help, auto get) {
    x.Family(name, type, help);
    double v = 0;
    for (const StoreStats* s : parts) v += static_cast<double>(get(*s));
    x.Sample(name, "", v);
  };
  sum("rf_store_commits_total", "counter", "Database transactions committed (group commits).",
      [](const StoreStats& s) { return s.commits.Get(); });
  sum("rf_store_commit_failures_total", "counter", "Commit attempts that failed and were retried.",
      [](const StoreStats& s) { return s.commit_failures.Get(); });
  sum("rf_store_records_total", "counter", "Run records made durable.",
      [](const StoreStats& s) { return s.records.Get(); });
  sum("rf_store_commits_in_flight", "gauge", "Transactions under way.",
      [](const StoreStats& s) { return s.in_flight.Get(); });
  sum("rf_store_connections_up", "gauge", "Database connections up.",
      [](const StoreStats& s) { return s.connections_up.Get(); });
  auto pool = [&](const char* name, const char* help, auto get) {
    sum(name, "counter", help, [&](const StoreStats& s) { return s.pool ? get(*s.pool) : 0; });
  };
  pool("rf_store_pool_acquired_total", "Connections handed out by the shards' pools.",
       [](const obs::PoolStats& p) { return p.acquired.Get(); });
  pool("rf_store_pool_waits_total", "Acquires that waited for a free connection.",
       [](const obs::PoolStats& p) { return p.waited.Get(); });
  pool("rf_store_pool_wait_timeouts_total", "Acquires that reached their deadline waiting.",
       [](const obs::PoolStats& p) { return p.wait_timeouts.Get(); });
  pool("rf_store_pool_rejected_total", "Acquires refused because the wait queue was full.",
       [](const obs::PoolStats& p) { return p.rejected.Get(); });
  pool("rf_store_pool_connects_total", "Connections made (first ones and replacements).",
       [](const obs::PoolStats& p) { return p.connects.Get(); });
  pool("rf_store_pool_connect_failures_total", "Connection attempts that failed.",
       [](const obs::PoolStats& p) { return p.connect_failures.Get(); });
  pool("rf_store_pool_dropped_total", "Broken connections discarded.",
       [](const obs::PoolStats& p) { return p.dropped.Get(); });
  x.Family("rf_store_commit_seconds", "histogram", "One group commit: connection acquired to COMMIT answered.");
  std::vector<const obs::Histogram*> lat;
  for (const StoreStats* s : parts) lat.push_back(&s->commit_latency);
  x.HistogramSum("rf_store_commit_seconds", "", lat);
  // Records per transaction, power-of-two buckets.
  const char* name = "rf_store_commit_records";
  x.Family(name, "histogram", "Run records per group commit.");
  const auto& bounds = store::embedded::CountHistogram::kBounds;
  uint64_t cumulative = 0, count = 0, total = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    for (const StoreStats* s : parts) cumulative += s->batch_records.BucketCount(i);
    std::string le = i < bounds.size() ? std::to_string(bounds[i]) : "+Inf";
    x.SampleU(std::string(name) + "_bucket", "le=\"" + le + "\"", cumulative);
  }
  for (const StoreStats* s : parts) {
    count += s->batch_records.Count();
    total += s->batch_records.Sum();
  }
  x.SampleU(std::string(name) + "_sum", "", total);
  x.SampleU(std::string(name) + "_count", "", count);
}

reactor::Task<Status> RunStore::WriteSnapshot(uint64_t, std::string) {
  co_return Error{Errc::kInvalidArgument, "this store takes no snapshots"};
}

reactor::Task<Result<std::vector<OutboxRow>>> RunStore::History(const RunId&, uint64_t) {
  co_return Error{Errc::kInvalidArgument, "this store keeps no event history"};
}

namespace {

// Journal replay -> RecordSink: run records only.
class JournalToSink : public store::embedded::ReplaySink {
 public:
  explicit JournalToSink(RecordSink& s) : sink_(s) {}
  Status OnSnapshot(uint64_t, std::string_view bytes) override { return sink_.OnSnapshot(bytes); }
  Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) override {
    if (type == kMovedType) return sink_.OnMoved(payload);
    if (type != kRunRecordType) {
      return Error{Errc::kCorrupt, "journal record " + std::to_string(lsn) + " has unknown type " +
                                       std::to_string(type)};
    }
    return sink_.OnRecord(payload);
  }

 private:
  RecordSink& sink_;
};

}  // namespace

EmbeddedRunStore::EmbeddedRunStore(std::string data_dir, unsigned shard, bool fsync) {
  options_.dir = store::embedded::JournalDir(data_dir, shard);
  options_.fsync = fsync;
  // A restart scans every segment the last snapshot did not let go of, from
  // its start: small segments keep that scan near the journal written since
  // the snapshot (finished runs take most of it, and they are only skipped).
  options_.segment_bytes = 8 << 20;
}

reactor::Task<Status> EmbeddedRunStore::Open(RecordSink& sink) {
  JournalToSink adapter(sink);
  auto j = co_await store::embedded::Journal::Open(options_, adapter);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  const auto& rep = journal_->recovery();
  RF_LOG(kInfo, "store opened", {"dir", options_.dir}, {"snapshot_lsn", rep.snapshot_lsn},
         {"records_replayed", rep.records}, {"torn_bytes", rep.torn_bytes});
  co_return Status{};
}

uint64_t EmbeddedRunStore::Append(const Run&, const Record&, uint32_t, std::string_view payload) {
  return journal_->Append(kRunRecordType, payload);
}

void EmbeddedRunStore::NoteMoved(const std::vector<RunId>& ids) {
  std::string bytes;
  bytes.reserve(ids.size() * 16);
  for (const RunId& id : ids) bytes.append(reinterpret_cast<const char*>(id.bytes.data()), 16);
  journal_->Append(kMovedType, bytes);
}

reactor::Task<Status> EmbeddedRunStore::Durable(uint64_t ticket) {
  co_return co_await journal_->WaitDurable(ticket);  // suspends
}

reactor::Task<Status> EmbeddedRunStore::Close() {
  if (!journal_) co_return Status{};
  co_return co_await journal_->Close();  // suspends
}

reactor::Task<Status> EmbeddedRunStore::WriteSnapshot(uint64_t upto, std::string bytes) {
  co_return co_await journal_->WriteSnapshot(upto, std::move(bytes));  // suspends
}

EmbeddedDefinitionLog::EmbeddedDefinitionLog(std::string data_dir, bool fsync) {
  options_.dir = data_dir + "/definitions";
  options_.fsync = fsync;
  options_.segment_bytes = 16 << 20;
}

reactor::Task<Status> EmbeddedDefinitionLog::Open(store::embedded::ReplaySink& sink) {
  auto j = co_await store::embedded::Journal::Open(options_, sink);  // suspends
  if (!j) co_return j.error();
  journal_ = std::move(*j);
  co_return Status{};
}

reactor::Task<Status> EmbeddedDefinitionLog::Commit() {
  co_return co_await journal_->Commit();  // suspends
}

reactor::Task<Status> EmbeddedDefinitionLog::Close() {
  if (!journal_) co_return Status{};
  co_return co_await journal_->Close();  // suspends
}

}  // namespace rf::engine
