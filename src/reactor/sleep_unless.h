#pragma once
// SleepUnless: a background loop's pause that a stop request cuts short. Sleeps `total` on the
// current shard in `step`s, returning early once `stop` is true (it is polled, so a stop takes
// effect within one step). Returns false when stopped. `stop` must outlive the call.

#include "reactor/shard.h"
#include "reactor/task.h"

namespace rf::reactor {

inline Task<bool> SleepUnless(Nanos total, const bool& stop, Nanos step = 100 * kMillis) {
  for (Nanos slept = 0; slept < total && !stop; slept += step) co_await Sleep(step);  // suspends
  co_return !stop;
}

}  // namespace rf::reactor
