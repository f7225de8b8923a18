#include "engine/breaker_table.h"

namespace rf::engine {
namespace {

size_t Index(CircuitBreaker::State s) { return static_cast<size_t>(s); }

// Monotonic `mono` on the wall clock, in ms; one offset for every time, so differences are exact.
int64_t WallMs(Nanos mono, Nanos now, Nanos wall_now) { return (wall_now - (now - mono)) / kMillis; }

}  // namespace

std::string BreakerTable::Id(std::string_view key, const BreakerSettings& settings) {
  std::string id(key);
  id += '\n';  // keys are cut at kMaxBreakerKeyBytes but may hold any byte: the settings follow
  id += settings.Fingerprint();
  return id;
}

CircuitBreaker& BreakerTable::Get(const std::string& id, std::string_view key,
                                  const BreakerSettings& s) {
  if (auto it = index_.find(id); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->breaker;
  }
  if (index_.size() >= max_) {
    Node& victim = lru_.back();
    stats_->state[Index(victim.breaker.state())].Add(-1);
    stats_->evicted.Add();
    index_.erase(victim.id);
    lru_.pop_back();
  }
  lru_.push_front(Node{id, std::string(key), CircuitBreaker(s)});
  index_.emplace(id, lru_.begin());
  stats_->state[Index(CircuitBreaker::State::kClosed)].Add(1);
  return lru_.front().breaker;
}

CircuitBreaker* BreakerTable::Find(const std::string& id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &it->second->breaker;
}

void BreakerTable::Transitioned(CircuitBreaker::State from, CircuitBreaker::State to) {
  stats_->state[Index(from)].Add(-1);
  stats_->state[Index(to)].Add(1);
  stats_->transitions[Index(to)].Add();
}

std::vector<BreakerView> BreakerTable::Views(unsigned shard, Nanos now, Nanos wall_now) const {
  std::vector<BreakerView> out;
  out.reserve(lru_.size());
  for (const Node& n : lru_) {
    const CircuitBreaker& b = n.breaker;
    BreakerView v;
    v.key = n.key;
    v.shard = shard;
    v.state = b.state();
    v.consecutive_failures = b.consecutive_failures();
    const CircuitBreaker::WindowCount w = b.Window(now);
    v.window_calls = w.calls;
    v.window_failures = w.failures;
    if (b.opened_at() != 0) v.opened_at_ms = WallMs(b.opened_at(), now, wall_now);
    if (b.state() == CircuitBreaker::State::kOpen) v.next_probe_ms = WallMs(b.open_until(), now, wall_now);
    v.probes_in_flight = b.probes_in_flight();
    v.settings = b.settings();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace rf::engine
