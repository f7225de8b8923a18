#pragma once
// Commit metrics of the PostgreSQL run stores. Single writer (the store's
// shard), read by /metrics anywhere.

#include <string>
#include <vector>

#include "obs/metrics.h"
#include "obs/pool_stats.h"

namespace rf::store::pg {

struct StoreStats {
  obs::Counter commits;                 // transactions committed
  obs::Counter commit_failures;         // attempts that failed (each is retried)
  obs::Counter records;                 // records made durable
  obs::CountHistogram batch_records;    // records per transaction
  obs::Histogram commit_latency;        // one transaction, acquire to COMMIT's answer
  obs::Gauge in_flight;                 // transactions under way
  // Set once the store opened; their `up` gauges are the connections up, kept by the pools
  // as connections come and go (a gauge set at each commit went stale while nothing committed).
  const obs::PoolStats* pool = nullptr;
  const obs::PoolStats* read_pool = nullptr;
};

// Appends rf_store_* families summed over shards (nothing when `parts` is empty).
void RenderStoreMetrics(const std::vector<const StoreStats*>& parts, std::string& out);

}  // namespace rf::store::pg
