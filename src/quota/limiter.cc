#include "quota/limiter.h"

#include <algorithm>

namespace rf::quota {

Limiter::Pair& Limiter::BucketsOf(std::string_view ns, Nanos now) {
  // Heterogeneous lookup needs C++20's transparent unordered lookup; a key copy is the cost
  // only for a namespace seen first on this shard.
  thread_local std::string key;
  key.assign(ns);
  if (auto it = buckets_.find(key); it != buckets_.end()) return it->second;
  if (buckets_.size() >= kMaxNamespaces) {
    std::erase_if(buckets_, [&](const auto& kv) {
      const Limits& o = config_->For(kv.first);
      const double rr = o.requests_per_second / ways_, sr = o.starts_per_second / ways_;
      return kv.second.requests.Idle(rr, std::max(1.0, rr * o.burst_seconds), now) &&
             kv.second.starts.Idle(sr, std::max(1.0, sr * o.burst_seconds), now);
    });
    if (buckets_.size() >= kMaxNamespaces) return overflow_;
  }
  return buckets_[key];
}

bool Limiter::Admit(Kind kind, std::string_view ns, Nanos now, Nanos& wait) {
  if (!config_) return true;
  const Limits& l = config_->For(ns);
  const double rate = (kind == Kind::kRequests ? l.requests_per_second : l.starts_per_second) / ways_;
  if (rate <= 0) return true;
  Pair& p = BucketsOf(ns, now);
  // Even a tiny share admits one at a time: a bucket holds at least one token.
  const double capacity = std::max(1.0, rate * l.burst_seconds);
  return (kind == Kind::kRequests ? p.requests : p.starts).Take(rate, capacity, now, wait);
}

}  // namespace rf::quota
