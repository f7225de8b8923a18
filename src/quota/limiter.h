#pragma once
// Limiter: one shard's token buckets, per namespace and kind, under the current quota Config.
// Shard-local (no sharing, no locks): each shard enforces rate / (shards x instances), so an
// instance as a whole admits its configured rate when connections spread over its shards
// (SO_REUSEPORT does that), and a cluster of N instances about N times less each. With
// --redis-url the cluster shares its rates (shared_bucket.h) and this is the fallback. Bounded: at
// most kMaxNamespaces buckets a shard; when full, buckets that are full again (idle) go first,
// and a namespace beyond that is limited in one shared overflow bucket.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "quota/quota.h"

namespace rf::quota {

enum class Kind : uint8_t { kRequests, kStarts };

class Limiter {
 public:
  static constexpr size_t kMaxNamespaces = 4096;

  // The config in force (swapped whole on reload; shared read-only by every shard). A reload
  // starts every bucket full under the new limits: a raised limit admits at once instead of
  // waiting for a bucket drained under the old one to refill.
  void SetConfig(std::shared_ptr<const Config> config) {
    config_ = std::move(config);
    buckets_.clear();
    overflow_ = Pair{};
  }
  const Config* config() const { return config_.get(); }
  // How many ways each rate is split: this instance's shards x the instances sharing the work.
  void SetShare(double ways) { ways_ = ways < 1 ? 1 : ways; }

  // One request (or start) of namespace `ns` at `now`: true to admit; false with the wait
  // until it would be (for Retry-After).
  bool Admit(Kind kind, std::string_view ns, Nanos now, Nanos& wait);
  size_t buckets() const { return buckets_.size(); }

 private:
  struct Pair {
    TokenBucket requests, starts;
  };
  Pair& BucketsOf(std::string_view ns, Nanos now);
  std::shared_ptr<const Config> config_;
  double ways_ = 1;
  std::unordered_map<std::string, Pair> buckets_;
  Pair overflow_;
};

}  // namespace rf::quota
