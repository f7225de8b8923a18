// Flow control per key: the gates of workflows with a "concurrency" limit (engine/flow_control.h).
// Every run of one key lives on this shard (its start was routed to the key's partition), so a
// gate is plain shard state: no atomics, no lock, nothing shared with another shard.

#include <algorithm>

#include "engine/coordinator.h"

namespace rf::engine {

namespace {
int64_t LimitOf(const Definition& def) { return def.concurrency ? def.concurrency->limit : INT64_MAX; }
}  // namespace

bool Coordinator::AdmitFlow(Entry& e) {
  auto [it, fresh] = gates_.try_emplace(e.gate);
  if (fresh) stats_->flow_keys.Add(1);
  FlowGate& g = it->second;
  g.limit = LimitOf(*e.run.def);  // the newest start's version decides
  // Behind runs already waiting even when a slot is free (one frees only as a run's end is
  // durable, and ReleaseFlow fills it then): FIFO per key.
  if (g.queued.empty() && g.live < LimitOf(*e.run.def)) {
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

void Coordinator::ForgetFlow(Entry& e) {
  auto it = gates_.find(e.gate);
  if (it == gates_.end()) return;
  FlowGate& g = it->second;
  if (e.gate_live) {
    --g.live;
    e.gate_live = false;
  } else if (auto q = std::find(g.queued.begin(), g.queued.end(), &e); q != g.queued.end()) {
    // A queued run cancelled (or timed out) before its turn: O(queue), rare.
    g.queued.erase(q);
    stats_->flow_queued.Add(-1);
  }
  if (it->second.live == 0 && it->second.queued.empty()) {
    gates_.erase(it);
    stats_->flow_keys.Add(-1);
  }
}

void Coordinator::ReleaseFlow(const std::string& gate) {
  auto it = gates_.find(gate);
  if (it == gates_.end()) return;
  FlowGate& g = it->second;
  while (!g.queued.empty() && !Releasing(*g.queued.front()) &&
         g.live < g.limit) {
    Entry* next = g.queued.front();
    g.queued.pop_front();
    stats_->flow_queued.Add(-1);
    if (IsTerminal(next->run.status)) continue;  // its end is on its way; LeaveFlow finds nothing
    Status st = Mutate(*next, [](Machine& m) { return m.Dequeue(); });
    if (!st) continue;  // not queued after all: nothing to start
    ++g.live;
    next->gate_live = true;
    stats_->flow_dequeued.Add();
  }
  if (g.live == 0 && g.queued.empty()) {
    gates_.erase(it);
    stats_->flow_keys.Add(-1);
  }
}

void Coordinator::LoadFlow(Entry& e) {
  if (!e.run.def->concurrency || IsTerminal(e.run.status)) return;
  e.gate = FlowGateId(e.run.def->name, FlowKey(*e.run.def, e.run.input));
  if (e.run.status == RunStatus::kQueued) {
    loaded_queued_.push_back(&e);
    return;
  }
  // Started before the restart: it holds a slot even if that exceeds a limit lowered since.
  auto [it, fresh] = gates_.try_emplace(e.gate);
  if (fresh) stats_->flow_keys.Add(1);
  ++it->second.live;
  it->second.limit = LimitOf(*e.run.def);
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
    auto [it, fresh] = gates_.try_emplace(e->gate);
    if (fresh) stats_->flow_keys.Add(1);
    if (it->second.queued.empty()) touched.push_back(e->gate);
    it->second.queued.push_back(e);
    it->second.limit = LimitOf(*e->run.def);
    stats_->flow_queued.Add(1);
  }
  loaded_queued_.clear();
  for (const std::string& g : touched) ReleaseFlow(g);
}

std::vector<FlowKeyView> Coordinator::FlowKeys(const std::string& workflow, size_t max) const {
  std::vector<FlowKeyView> out;
  for (const auto& [id, g] : gates_) {
    const size_t nl = id.find('\n');
    const std::string_view wf = std::string_view(id).substr(0, nl);
    if (!workflow.empty() && wf != workflow) continue;
    FlowKeyView v;
    v.workflow = std::string(wf);
    v.key = id.substr(nl + 1);
    v.live = g.live;
    v.queued = static_cast<int64_t>(g.queued.size());
    v.limit = g.limit;
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
