#pragma once
// Per-shard journal metrics. The owning shard is the only writer; /metrics
// (any shard) reads them with relaxed loads, like every obs:: metric.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "obs/metrics.h"

namespace rf::store::embedded {

struct JournalStats {
  obs::Counter batches;           // write + fdatasync rounds
  obs::Counter records;           // records made durable
  obs::Counter bytes;             // bytes written to segments, frames included
  obs::Counter rotations;         // segments started after Open
  obs::Counter snapshots;         // snapshots written
  obs::Counter segments_deleted;  // segments removed because a snapshot covers them
  obs::CountHistogram batch_records;   // records per batch: how well group commit groups
  obs::Histogram fsync_latency;   // one fdatasync of a batch
  obs::Histogram batch_latency;   // a batch from writev submitted to durable
};

// Appends the rf_journal_* metric families summed over shards.
void RenderJournalMetrics(const std::vector<const JournalStats*>& shards, std::string& out);

}  // namespace rf::store::embedded
