// Flow control per key: the gates of workflows with a "concurrency" limit and/or a
// "rate_limit" (engine/flow_control.h). Every run of one key lives on this shard (its start was
// routed to the key's partition), so a gate is plain shard state: no atomics, no lock, nothing
// shared with another shard.

#include <algorithm>
#include <cmath>

#include "engine/coordinator.h"

namespace rf::engine {

namespace {

int64_t LimitOf(const Definition& def) { return def.concurrency ? def.concurrency->limit : INT64_MAX; }

void Refill(double& tokens, double rate, double burst, Nanos& refilled, Nanos now) {
  if (rate <= 0) return;
  tokens = std::min(burst, tokens + static_cast<double>(now - refilled) / kSeconds * rate);
  refilled = now;
}

}  // namespace

Coordinator::FlowGate& Coordinator::GateOf(Entry& e) {
  auto [it, fresh] = gates_.try_emplace(e.gate);
  if (fresh) stats_->flow_keys.Add(1);
  FlowGate& g = it->second;
  const Definition& def = *e.run.def;
  g.limit = LimitOf(def);  // the newest start's version decides
  const Nanos now = MonoNow();
  if (def.rate_limit) {
    if (g.rate <= 0) {  // a new bucket starts full
      g.tokens = static_cast<double>(def.rate_limit->burst);
      g.refilled = now;
    }
    Refill(g.tokens, g.rate, g.burst, g.refilled, now);
    g.rate = def.rate_limit->per_second;
    g.burst = static_cast<double>(def.rate_limit->burst);
    g.tokens = std::min(g.tokens, g.burst);
  } else {
    g.rate = 0;
  }
  return g;
}

bool Coordinator::AdmitFlow(Entry& e) {
  FlowGate& g = GateOf(e);
  // Behind runs already waiting even when a slot is free (one frees only as a run's end is
  // durable, and ReleaseFlow fills it then): FIFO per key.
  if (g.queued.empty() && g.live < g.limit && (g.rate <= 0 || g.tokens >= 1)) {
    if (g.rate > 0) g.tokens -= 1;
    ++g.live;
    e.gate_live = true;
    return true;
  }
  g.queued.push_back(&e);
  stats_->flow_queued.Add(1);
  return false;
}

void Coordinator::LeaveFlow(Entry& e) {
  if (e.gate.empty()) return;
  ForgetFlow(e);
  ReleaseFlow(e.gate);
}

void Coordinator::HoldDebounced(Entry& e, Nanos due) {
  FlowGate& g = GateOf(e);
  if (Entry* prev = g.held; prev != nullptr && prev != &e) {
    g.held = nullptr;
    stats_->flow_queued.Add(-1);
    if (!IsTerminal(prev->run.status)) {
      std::string reason = "debounced: a later start (" + e.run.id_text + ") replaced it";
      Status st = Mutate(*prev, [&](Machine& m) { return m.Cancel(std::move(reason)); });
      (void)st;  // a run that ended meanwhile has nothing to cancel
    }
  }
  if (g.held != &e) stats_->flow_queued.Add(1);
  g.held = &e;
  g.held_due = due;
  WakeGateAt(e.gate, g, due);
}

void Coordinator::ForgetFlow(Entry& e) {
  auto it = gates_.find(e.gate);
  if (it == gates_.end()) return;
  FlowGate& g = it->second;
  if (g.held == &e) {
    g.held = nullptr;
    stats_->flow_queued.Add(-1);
  } else if (e.gate_live) {
    --g.live;
    e.gate_live = false;
  } else if (auto q = std::find(g.queued.begin(), g.queued.end(), &e); q != g.queued.end()) {
    // A queued run cancelled (or timed out) before its turn: O(queue), rare.
    g.queued.erase(q);
    stats_->flow_queued.Add(-1);
  }
  MaybeDropGate(it);
}

void Coordinator::MaybeDropGate(std::unordered_map<std::string, FlowGate>::iterator it) {
  FlowGate& g = it->second;
  if (g.live != 0 || !g.queued.empty() || g.held) return;
  if (g.rate > 0) {
    // The bucket remembers recent starts until it is full again: forgetting it earlier would
    // let the next start of the key through a fresh burst.
    const Nanos now = MonoNow();
    Refill(g.tokens, g.rate, g.burst, g.refilled, now);
    if (g.tokens < g.burst) {
      WakeGateAt(it->first, g, now + static_cast<Nanos>(std::ceil((g.burst - g.tokens) / g.rate * kSeconds)));
      return;
    }
  }
  gates_.erase(it);
  stats_->flow_keys.Add(-1);
}

void Coordinator::ReleaseFlow(const std::string& gate) {
  auto it = gates_.find(gate);
  if (it == gates_.end()) return;
  FlowGate& g = it->second;
  const Nanos now = MonoNow();
  if (Entry* h = g.held; h != nullptr && !Releasing(*h)) {
    if (now < g.held_due) {
      WakeGateAt(gate, g, g.held_due);  // a newer start moved the end of the quiet time
    } else {
      g.held = nullptr;
      stats_->flow_queued.Add(-1);
      if (!IsTerminal(h->run.status) && Mutate(*h, [](Machine& m) { return m.Dequeue(); })) {
        ++g.live;
        h->gate_live = true;
        stats_->flow_dequeued.Add();
      }
    }
  }
  Refill(g.tokens, g.rate, g.burst, g.refilled, now);
  while (!g.queued.empty() && !Releasing(*g.queued.front()) && g.live < g.limit &&
         (g.rate <= 0 || g.tokens >= 1)) {
    Entry* next = g.queued.front();
    g.queued.pop_front();
    stats_->flow_queued.Add(-1);
    if (IsTerminal(next->run.status)) continue;  // its end is on its way; LeaveFlow finds nothing
    Status st = Mutate(*next, [](Machine& m) { return m.Dequeue(); });
    if (!st) continue;  // not queued after all: nothing to start
    if (g.rate > 0) g.tokens -= 1;
    ++g.live;
    next->gate_live = true;
    stats_->flow_dequeued.Add();
  }
  // Held back by the rate alone: come back when the next token is there.
  if (!g.queued.empty() && g.rate > 0 && g.tokens < 1 && g.live < g.limit)
    WakeGateAt(gate, g, now + static_cast<Nanos>(std::ceil((1 - g.tokens) / g.rate * kSeconds)));
  MaybeDropGate(it);
}

void Coordinator::WakeGateAt(const std::string& id, FlowGate& g, Nanos at) {
  if (g.wake_at != 0 && g.wake_at <= at) return;  // an earlier wake comes anyway
  g.wake_at = at;
  flow_wakeups_.emplace(at, id);
  if (flow_wakeups_.begin()->first == at) ArmFlowTimer();
}

void Coordinator::ArmFlowTimer() {
  reactor::Shard& shard = reactor::Shard::Current();
  if (flow_wakeups_.empty()) {
    shard.Disarm(&flow_node_);
    return;
  }
  shard.Arm(&flow_node_, flow_wakeups_.begin()->first);
}

void Coordinator::OnFlowTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  if (self->closing_) return;
  const Nanos now = MonoNow();
  while (!self->flow_wakeups_.empty() && self->flow_wakeups_.begin()->first <= now) {
    const std::string id = std::move(self->flow_wakeups_.begin()->second);
    const Nanos at = self->flow_wakeups_.begin()->first;
    self->flow_wakeups_.erase(self->flow_wakeups_.begin());
    auto it = self->gates_.find(id);
    if (it == self->gates_.end() || it->second.wake_at != at) continue;  // superseded
    it->second.wake_at = 0;
    self->ReleaseFlow(id);
  }
  self->ArmFlowTimer();
}

void Coordinator::LoadFlow(Entry& e) {
  if (!e.run.def->flow_controlled() || IsTerminal(e.run.status)) return;
  e.gate = FlowGateId(e.run.def->name, FlowKey(*e.run.def, e.run.input));
  if (e.run.status == RunStatus::kQueued) {
    loaded_queued_.push_back(&e);
    return;
  }
  // Started before the restart: it holds a slot even if that exceeds a limit lowered since.
  FlowGate& g = GateOf(e);
  ++g.live;
  e.gate_live = true;
}

void Coordinator::SettleFlow() {
  if (loaded_queued_.empty()) return;
  // Run ids of one shard are time-ordered and never go backwards: id order is creation order.
  std::sort(loaded_queued_.begin(), loaded_queued_.end(),
            [](const Entry* a, const Entry* b) { return a->run.id < b->run.id; });
  // Every gate with queued runs, including those LoadFlow made for live runs: a slot may have
  // freed durably before the dequeue that should have followed it was (a kill -9 in between).
  std::vector<std::string> touched;
  for (Entry* e : loaded_queued_) {
    if (const auto& db = e->run.def->debounce) {
      // The newest queued start of a key is the one held; the quiet time is not durable, so
      // it is measured from its creation (wall clock). Older ones were replaced.
      const int64_t left_ms = std::max<int64_t>(0, e->run.created_ms + db->ms - NowMs());
      if (!gates_.contains(e->gate)) touched.push_back(e->gate);
      HoldDebounced(*e, MonoNow() + left_ms * kMillis);
      continue;
    }
    FlowGate& g = GateOf(*e);
    if (g.queued.empty()) touched.push_back(e->gate);
    g.queued.push_back(e);
    stats_->flow_queued.Add(1);
  }
  loaded_queued_.clear();
  for (const std::string& g : touched) ReleaseFlow(g);
}

std::vector<FlowKeyView> Coordinator::FlowKeys(const std::string& workflow, size_t max) const {
  std::vector<FlowKeyView> out;
  for (const auto& [id, g] : gates_) {
    if (g.live == 0 && g.queued.empty() && !g.held) continue;  // a bucket refilling
    const size_t nl = id.find('\n');
    const std::string_view wf = std::string_view(id).substr(0, nl);
    if (!workflow.empty() && wf != workflow) continue;
    FlowKeyView v;
    v.workflow = std::string(wf);
    v.key = id.substr(nl + 1);
    v.live = g.live;
    v.queued = static_cast<int64_t>(g.queued.size()) + (g.held ? 1 : 0);
    v.limit = g.limit == INT64_MAX ? 0 : g.limit;
    v.shard = shard_;
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const FlowKeyView& a, const FlowKeyView& b) {
    return a.queued != b.queued ? a.queued > b.queued : a.live != b.live ? a.live > b.live : a.key < b.key;
  });
  if (out.size() > max) out.resize(max);
  return out;
}

}  // namespace rf::engine
