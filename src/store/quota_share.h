#pragma once
// QuotaShare: the quotas of a cluster's instances kept in one place (--redis-url), so a limit
// holds for the cluster, not for each instance (api/quotas.h). Two things are shared:
//   - rates: a token bucket per (kind, namespace) that shards take batches of tokens from
//     (quota/shared_bucket.h spends them locally);
//   - live runs: each instance publishes how many runs of each namespace it holds and reads
//     the sums of the others.
// Adapter: store/redis (redis_quota.h). Shard-local: one per shard, Start, calls and Close on
// its thread; every call suspends and is bounded by the adapter's deadline (a slow or absent
// backend is an error, and the caller falls back to its per-instance split).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/task.h"

namespace rf::store {

class QuotaShare {
 public:
  struct Batch {
    int64_t granted = 0;  // tokens this shard may spend
    Nanos wait = 0;       // granted == 0: until the bucket has a token again
  };
  using Counts = std::vector<std::pair<std::string, int64_t>>;  // namespace -> live runs

  virtual ~QuotaShare() = default;
  virtual void Start() = 0;
  // Up to `want` tokens of the bucket `key` (kind and namespace, e.g. "starts:team-a"), which
  // fills at `rate` a second up to `capacity`.
  virtual reactor::Task<Result<Batch>> TakeBatch(std::string key, double rate, double capacity,
                                                 int64_t want) = 0;
  // Publishes this instance's live runs (namespaces with none left out; they replace what it
  // published before) and returns the sums over the other live instances.
  virtual reactor::Task<Result<Counts>> ExchangeLive(Counts mine) = 0;
  virtual reactor::Task<void> Close() = 0;
};

}  // namespace rf::store
