#pragma once
// SharedBucket: a shard's view of a rate shared by a cluster (--redis-url). The token bucket
// itself lives in Redis (store/quota_share.h); a shard takes a batch of tokens from it and
// spends them locally, so a request costs no round trip. Pure: the caller does the fetching
// (one in flight per bucket), passes `now`, and reports answers and failures here.
//
// What a request gets, in order:
//   - a token of the batch in hand (not expired): admitted; the next batch is asked for when
//     the batch runs low (NeedFetch), so steady traffic rarely finds it empty;
//   - none, and Redis answered lately (within the batch window, or told us to wait): refused
//     with Retry-After (the cluster is at its rate, or the next batch is on its way);
//   - none, and no recent answer (first use, idle for a while, Redis away): kFallback: the
//     caller decides with its per-instance bucket (rate split over the live members).
// Granted tokens expire with their window: a shard never hoards them, and over the cluster
// no more is admitted than Redis granted, which is at most rate x time + burst.

#include <algorithm>
#include <cstdint>

#include "base/clock.h"

namespace rf::quota {

// Tokens a shard asks for at a time: about a tenth of a second of the rate, split over every
// shard of the cluster (`ways`), at least 1 and at most the bucket's capacity.
int64_t BatchSize(double rate, double capacity, double ways);

class SharedBucket {
 public:
  enum class Decision : uint8_t { kAdmit, kRefuse, kFallback };
  static constexpr Nanos kWindow = 500 * kMillis;  // a batch's tokens are good this long

  // One request at `now`. kRefuse sets `wait` (until a token may be there).
  Decision Take(Nanos now, Nanos& wait);
  // Whether to ask Redis for a batch now (none in flight, and the batch is low or gone, and
  // not within a wait Redis asked for).
  bool NeedFetch(Nanos now, int64_t batch) const;
  void Fetching() { in_flight_ = true; }
  // Redis granted `granted` tokens (0: none; then `wait` until the next one).
  void Granted(int64_t granted, Nanos wait, Nanos now);
  // The fetch failed: what was granted still counts; requests beyond it fall back.
  void Failed() {
    in_flight_ = false;
    retry_at_ = warm_until_ = 0;
  }
  bool in_flight() const { return in_flight_; }
  int64_t tokens() const { return tokens_; }
  // Nothing held and nothing asked: the shard may forget it.
  bool Idle(Nanos now) const { return !in_flight_ && now >= warm_until_; }

 private:
  int64_t tokens_ = 0;
  Nanos expires_ = 0;     // tokens_ are void from then
  Nanos retry_at_ = 0;    // Redis said: no token before then
  Nanos warm_until_ = 0;  // an answer this recent speaks for the cluster (else: fall back)
  bool in_flight_ = false;
};

}  // namespace rf::quota
