#pragma once
// Connection pool metrics, kept apart from the pool so /metrics can sum them
// without knowing the client library (store/postgres fills them in).

#include "obs/metrics.h"

namespace rf::obs {

// Single writer (the pool's shard), read anywhere.
struct PoolStats {
  obs::Counter acquired;          // connections handed out
  obs::Counter waited;            // Acquire calls that had to wait
  obs::Counter wait_timeouts;     // ... and reached their deadline
  obs::Counter rejected;          // refused: the wait queue was full
  obs::Counter connects;          // connections made (first ones and replacements)
  obs::Counter connect_failures;  // attempts that failed
  obs::Counter dropped;           // broken connections discarded
  obs::Gauge up;                  // connections up (idle or in use)
};

}  // namespace rf::obs
