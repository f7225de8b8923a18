#pragma once
// BreakerTable: one shard's circuit breakers, by (key, settings), bounded: when a new breaker
// would pass `max` the least recently used one is dropped (rf_breaker_evicted_total); a dropped
// breaker that was open forgets it, and the next call to its key starts closed. Touched only by
// its shard's thread: each shard trips on what it saw (no state is shared between shards).
//
// It keeps rf_breaker_state's per-state counts and rf_breaker_transitions_total current
// (BreakerStats, owned by the shard's ShardEngineStats).

#include <array>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/breaker.h"
#include "obs/metrics.h"

namespace rf::engine {

struct BreakerStats {
  std::array<obs::Gauge, 3> state;          // breakers by State
  std::array<obs::Counter, 3> transitions;  // by the State entered
  std::array<obs::Counter, 2> rejected;     // calls not made, by WhenOpen
  obs::Counter evicted;
  obs::Gauge delayed;  // steps waiting for their breaker (when_open: delay)
};

// One breaker as GET /v1/breakers shows it. Times are monotonic here; the engine converts.
struct BreakerView {
  std::string key;
  unsigned shard = 0;
  CircuitBreaker::State state = CircuitBreaker::State::kClosed;
  uint32_t consecutive_failures = 0;
  uint32_t window_calls = 0;
  uint32_t window_failures = 0;
  int64_t opened_at_ms = 0;   // wall clock; 0: never opened
  int64_t next_probe_ms = 0;  // wall clock; open only, else 0
  uint32_t probes_in_flight = 0;
  size_t delayed = 0;  // steps waiting for it
  BreakerSettings settings;
};

class BreakerTable {
 public:
  BreakerTable(size_t max, BreakerStats* stats) : max_(max == 0 ? 1 : max), stats_(stats) {}
  BreakerTable(const BreakerTable&) = delete;
  BreakerTable& operator=(const BreakerTable&) = delete;

  // The identity of the breaker of `key` under `settings`: steps that name one key with the
  // same settings share a breaker; other settings make another one.
  static std::string Id(std::string_view key, const BreakerSettings& settings);

  // The breaker `id` (made by Id), created closed when absent; marks it most recently used.
  CircuitBreaker& Get(const std::string& id, std::string_view key, const BreakerSettings& s);
  // Null when absent (evicted since the call was admitted).
  CircuitBreaker* Find(const std::string& id);

  // Counts a transition the breaker reported (from its state before the call).
  void Transitioned(CircuitBreaker::State from, CircuitBreaker::State to);

  size_t size() const { return index_.size(); }
  // Every breaker of the table; `now` (monotonic) and `wall_now` (WallNow) convert its times.
  std::vector<BreakerView> Views(unsigned shard, Nanos now, Nanos wall_now) const;

 private:
  struct Node {
    std::string id;
    std::string key;
    CircuitBreaker breaker;
  };
  size_t max_;
  BreakerStats* stats_;
  std::list<Node> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Node>::iterator> index_;
};

}  // namespace rf::engine
