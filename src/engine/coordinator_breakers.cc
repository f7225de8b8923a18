// Circuit breakers of http steps: the gate a call passes before it takes an http slot, the
// outcome it reports, and the steps that wait for their breaker (when_open: delay). Each shard
// has its own breakers and trips on what its own calls saw (engine/breaker_table.h).

#include "engine/coordinator.h"
#include "obs/log.h"

namespace rf::engine {
namespace {

using State = CircuitBreaker::State;
using Verdict = CircuitBreaker::Verdict;

// What a call's outcome says about the host (engine/breaker.h): no answer, 5xx or 429 is a
// failure; another answer a success; a call that never reached the host, or that our side
// abandoned or refused, says nothing.
Verdict VerdictOf(const HttpResult& r, bool cancelled) {
  if (cancelled || r.error.code == Errc::kCancelled) return Verdict::kNeutral;
  if (r.status != 0) return r.status >= 500 || r.status == 429 ? Verdict::kFailure : Verdict::kSuccess;
  switch (r.error.code) {
    case Errc::kUnavailable:  // refused, reset, DNS, closed before answering
    case Errc::kTimeout:
    case Errc::kIo:  // a malformed or truncated response
      return Verdict::kFailure;
    default:  // egress denied, an invalid request, a response over our limits
      return Verdict::kNeutral;
  }
}

// At most kMaxBreakerKeyBytes, cut at a UTF-8 character boundary.
std::string ClipKey(std::string key) {
  if (key.size() <= kMaxBreakerKeyBytes) return key;
  size_t n = kMaxBreakerKeyBytes;
  while (n > 0 && (static_cast<unsigned char>(key[n]) & 0xC0) == 0x80) --n;
  key.resize(n);
  return key;
}

}  // namespace

std::string Coordinator::BreakerKey(const Entry& e, const Step& s, const std::string& url) const {
  if (s.breaker && s.breaker->key) {
    RunStepResults results(e.run);
    json::Context ctx{&e.run.input, &results, e.run.id_text, e.run.def->name};
    std::string key = s.breaker->key->EvaluateString(ctx);
    if (!key.empty()) return ClipKey(std::move(key));
  }
  return ClipKey(http_->Origin(url));  // empty for a URL the client would refuse anyway
}

Coordinator::Gate Coordinator::PassBreaker(const WorkItem& w, const Step& s,
                                           const std::string& url, BreakerTicket& ticket) {
  const BreakerSettings* settings = nullptr;
  if (s.breaker) {
    settings = &s.breaker->settings;
  } else if (!s.breaker_off && options_.default_breaker) {
    settings = &*options_.default_breaker;
  }
  if (settings == nullptr) return Gate::kPass;
  Entry& e = *w.entry;
  std::string key = BreakerKey(e, s, url);
  if (key.empty()) return Gate::kPass;
  ticket.id = BreakerTable::Id(key, *settings);
  CircuitBreaker& b = breakers_.Get(ticket.id, key, *settings);
  const State before = b.state();
  const Nanos now = MonoNow();
  const CircuitBreaker::Admission a = b.Admit(now);
  if (a.to) breakers_.Transitioned(before, *a.to);
  if (a.admitted) {
    ticket.probe = a.probe;
    return Gate::kPass;
  }
  stats_->breakers.rejected[static_cast<size_t>(settings->when_open)].Add();
  if (settings->when_open == WhenOpen::kDelay) {
    // Without a time (probes in flight) their outcome wakes it; the cool-down bounds the wait
    // should every probe be abandoned without one.
    Park(ticket.id, w, a.retry_at != 0 ? a.retry_at : now + settings->cool_down);
    return Gate::kParked;
  }
  const double u = NextUnit();
  Mutate(e, [&](Machine& m) {
    m.StepFailed(w.step, w.attempt, "circuit open for " + key, true, u);
    return 0;
  });
  const bool retrying = e.run.steps[w.step].status == StepStatus::kRetrying;
  stats_->steps[static_cast<size_t>(StepType::kHttp)][retrying ? 2 : 1].Add();
  return Gate::kFailed;
}

void Coordinator::RecordBreaker(const BreakerTicket& t, const HttpResult& r, bool cancelled) {
  if (t.id.empty()) return;
  CircuitBreaker* b = breakers_.Find(t.id);
  if (b == nullptr) return;  // evicted meanwhile: the outcome has no breaker to count in
  const State before = b->state();
  const std::optional<State> to = b->Record(VerdictOf(r, cancelled), t.probe, MonoNow());
  if (to) {
    breakers_.Transitioned(before, *to);
    const std::string_view key = std::string_view(t.id).substr(0, t.id.find('\n'));
    if (*to == State::kOpen) {
      RF_LOG(kWarn, "circuit breaker opened", {"key", key}, {"shard", shard_},
             {"cool_down_ms", b->settings().cool_down / kMillis},
             {"error", r.error.code == Errc::kOk ? "HTTP " + std::to_string(r.status) : r.error.ToString()});
    } else {
      RF_LOG(kInfo, "circuit breaker closed", {"key", key}, {"shard", shard_});
    }
  }
  if (t.probe || to) WakeParked(t.id);
}

void Coordinator::Park(const std::string& id, const WorkItem& w, Nanos wake_at) {
  ++w.entry->pending;  // as while queued: the entry stays in memory
  parked_[id].push_back(w);
  stats_->breakers.delayed.Add(1);
  park_wakeups_.emplace(wake_at, id);
  if (park_wakeups_.begin()->first == wake_at) ArmParkTimer();
}

void Coordinator::WakeParked(const std::string& id) {
  auto it = parked_.find(id);
  if (it == parked_.end()) return;
  std::vector<WorkItem> items = std::move(it->second);
  parked_.erase(it);
  const Nanos now = MonoNow();
  for (WorkItem& w : items) {
    // Back into the queue (still counted in the entry's `pending`); Execute checks again
    // whether the attempt is still wanted and asks the breaker again.
    w.ready_at = now;
    const auto p = static_cast<size_t>(w.entry->run.priority);
    queues_[p][1].push_back(w);
    stats_->queue_depth[p].Add(1);
  }
  stats_->breakers.delayed.Add(-static_cast<int64_t>(items.size()));
  SchedulePump();
}

void Coordinator::ArmParkTimer() {
  reactor::Shard& shard = reactor::Shard::Current();
  if (park_wakeups_.empty()) {
    shard.Disarm(&park_node_);
    return;
  }
  shard.Arm(&park_node_, park_wakeups_.begin()->first);
}

void Coordinator::OnParkTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  if (self->closing_) return;
  const Nanos now = MonoNow();
  while (!self->park_wakeups_.empty() && self->park_wakeups_.begin()->first <= now) {
    const std::string id = std::move(self->park_wakeups_.begin()->second);
    self->park_wakeups_.erase(self->park_wakeups_.begin());
    self->WakeParked(id);  // an id woken already by a probe's outcome has nothing left
  }
  self->ArmParkTimer();
}

void Coordinator::DropParkedOfReleasing() {
  for (auto it = parked_.begin(); it != parked_.end();) {
    const size_t before = it->second.size();
    std::erase_if(it->second, [&](const WorkItem& w) {
      if (!Releasing(*w.entry)) return false;
      --w.entry->pending;
      return true;
    });
    stats_->breakers.delayed.Add(-static_cast<int64_t>(before - it->second.size()));
    it = it->second.empty() ? parked_.erase(it) : std::next(it);
  }
}

std::vector<BreakerView> Coordinator::Breakers() const {
  std::vector<BreakerView> out = breakers_.Views(shard_, MonoNow(), WallNow());
  for (BreakerView& v : out) {
    auto it = parked_.find(BreakerTable::Id(v.key, v.settings));
    if (it != parked_.end()) v.delayed = it->second.size();
  }
  return out;
}

}  // namespace rf::engine
