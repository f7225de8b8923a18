#include "store/postgres/pg_stats.h"

namespace rf::store::pg {

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
      [](const StoreStats& s) { return s.pool ? s.pool->up.Get() : 0; });
  sum("rf_store_read_connections_up", "gauge", "Database connections up for reads (--pg-read-pool).",
      [](const StoreStats& s) { return s.read_pool ? s.read_pool->up.Get() : 0; });
  // The commit pools' families and the read pools' (--pg-read-pool), named in full: the
  // dashboards' check looks for each name in src/.
  auto pool = [&](const char* commit_name, const char* read_name, const char* help, auto get) {
    sum(commit_name, "counter", help, [&](const StoreStats& s) { return s.pool ? get(*s.pool) : 0; });
    const std::string read_help = std::string(help) + " Read pools.";
    sum(read_name, "counter", read_help.c_str(),
        [&](const StoreStats& s) { return s.read_pool ? get(*s.read_pool) : 0; });
  };
  pool("rf_store_pool_acquired_total", "rf_store_read_pool_acquired_total",
       "Connections handed out by the shards' pools.",
       [](const obs::PoolStats& p) { return p.acquired.Get(); });
  pool("rf_store_pool_waits_total", "rf_store_read_pool_waits_total",
       "Acquires that waited for a free connection.",
       [](const obs::PoolStats& p) { return p.waited.Get(); });
  pool("rf_store_pool_wait_timeouts_total", "rf_store_read_pool_wait_timeouts_total",
       "Acquires that reached their deadline waiting.",
       [](const obs::PoolStats& p) { return p.wait_timeouts.Get(); });
  pool("rf_store_pool_rejected_total", "rf_store_read_pool_rejected_total",
       "Acquires refused because the wait queue was full.",
       [](const obs::PoolStats& p) { return p.rejected.Get(); });
  pool("rf_store_pool_connects_total", "rf_store_read_pool_connects_total",
       "Connections made (first ones and replacements).",
       [](const obs::PoolStats& p) { return p.connects.Get(); });
  pool("rf_store_pool_connect_failures_total", "rf_store_read_pool_connect_failures_total",
       "Connection attempts that failed.",
       [](const obs::PoolStats& p) { return p.connect_failures.Get(); });
  pool("rf_store_pool_dropped_total", "rf_store_read_pool_dropped_total",
       "Broken connections discarded.",
       [](const obs::PoolStats& p) { return p.dropped.Get(); });
  x.Family("rf_store_commit_seconds", "histogram", "One group commit: connection acquired to COMMIT answered.");
  std::vector<const obs::Histogram*> lat;
  for (const StoreStats* s : parts) lat.push_back(&s->commit_latency);
  x.HistogramSum("rf_store_commit_seconds", "", lat);
  x.Family("rf_store_commit_records", "histogram", "Run records per group commit.");
  std::vector<const obs::CountHistogram*> per_commit;
  for (const StoreStats* s : parts) per_commit.push_back(&s->batch_records);
  x.CountHistogramSum("rf_store_commit_records", per_commit);
}

}  // namespace rf::store::pg
