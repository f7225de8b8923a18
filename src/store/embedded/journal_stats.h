#pragma once
// Per-shard journal metrics. The owning shard is the only writer; /metrics
// (any shard) reads them with relaxed loads, like every obs:: metric.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "obs/metrics.h"

namespace rf::store::embedded {

// A histogram of counts (records per batch) with power-of-two bounds; obs::Histogram
// is for seconds.
class CountHistogram {
 public:
  static constexpr std::array<uint64_t, 14> kBounds = {1,   2,   4,    8,    16,    32,    64,
                                                       128, 256, 1024, 4096, 16384, 65536, 262144};
  void Observe(uint64_t v);
  uint64_t BucketCount(size_t i) const { return buckets_[i].Get(); }  // non-cumulative; last = +Inf
  uint64_t Count() const { return count_.Get(); }
  uint64_t Sum() const { return sum_.Get(); }

 private:
  std::array<obs::Counter, kBounds.size() + 1> buckets_;
  obs::Counter count_;
  obs::Counter sum_;
};

struct JournalStats {
  obs::Counter batches;           // write + fdatasync rounds
  obs::Counter records;           // records made durable
  obs::Counter bytes;             // bytes written to segments, frames included
  obs::Counter rotations;         // segments started after Open
  obs::Counter snapshots;         // snapshots written
  obs::Counter segments_deleted;  // segments removed because a snapshot covers them
  CountHistogram batch_records;   // records per batch: how well group commit groups
  obs::Histogram fsync_latency;   // one fdatasync of a batch
  obs::Histogram batch_latency;   // a batch from writev submitted to durable
};

// Appends the rf_journal_* metric families summed over shards.
void RenderJournalMetrics(const std::vector<const JournalStats*>& shards, std::string& out);

}  // namespace rf::store::embedded
