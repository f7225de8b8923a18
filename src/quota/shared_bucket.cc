#include "quota/shared_bucket.h"

#include <cmath>

namespace rf::quota {

int64_t BatchSize(double rate, double capacity, double ways) {
  if (!(rate > 0)) return 1;
  const double share = rate / 10 / std::max(1.0, ways);
  const double cap = std::max(1.0, std::floor(capacity));
  return static_cast<int64_t>(std::clamp(std::floor(share), 1.0, cap));
}

SharedBucket::Decision SharedBucket::Take(Nanos now, Nanos& wait) {
  if (tokens_ > 0 && now < expires_) {
    --tokens_;
    return Decision::kAdmit;
  }
  tokens_ = 0;
  if (now >= warm_until_) return Decision::kFallback;
  // Redis answered lately: its word (or the batch on its way) decides, not this instance.
  wait = std::max<Nanos>(retry_at_ - now, 0);
  return Decision::kRefuse;
}

bool SharedBucket::NeedFetch(Nanos now, int64_t batch) const {
  if (in_flight_ || now < retry_at_) return false;
  if (now >= expires_) return true;
  // Half the batch left: ask for the next before this one is gone.
  return tokens_ * 2 <= batch;
}

void SharedBucket::Granted(int64_t granted, Nanos wait, Nanos now) {
  in_flight_ = false;
  if (granted > 0) {
    // Tokens still in hand join the new window: every token spent was granted, so the sum
    // over the cluster holds; a shard holds at most about two batches.
    tokens_ = (now < expires_ ? tokens_ : 0) + granted;
    expires_ = now + kWindow;
    retry_at_ = 0;
    warm_until_ = now + kWindow;
  } else {
    retry_at_ = now + wait;
    warm_until_ = now + wait + kWindow;
  }
}

}  // namespace rf::quota
