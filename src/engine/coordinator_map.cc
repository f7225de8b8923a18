// Map steps, the coordinator's half: running one item. The decisions (which items go, when the
// step ends) are the machine's (engine/map_step.cc); an item marked in flight reaches here once
// that mark's batch is durable. noop and transform items compute inline, like their steps;
// workflow items start a child run through RunChild (coordinator_children.cc) with the key
// "map-item:<parent>/<step>/<attempt>/<item>".

#include "engine/coordinator.h"
#include "engine/map_step.h"
#include "engine/secret_scope.h"
#include "json/redact.h"

namespace rf::engine {

void Coordinator::EnqueueItem(Entry& e, const MapItemRef& ref) {
  auto p = static_cast<size_t>(e.run.priority);
  // http items wait for the shard's http limit (--http-concurrency) like http steps.
  const bool http = e.run.def->steps[ref.step].map->item_type == StepType::kHttp;
  queues_[p][http ? 1 : 0].push_back(
      WorkItem{&e, ref.step, static_cast<uint32_t>(e.run.steps[ref.step].attempts.size()),
               MonoNow(), ref.item});
  stats_->queue_depth[p].Add(1);
  ++e.pending;
}

const json::Value* Coordinator::LiveItem(const Entry& e, uint32_t step, uint32_t attempt,
                                         uint32_t item) const {
  if (IsTerminal(e.run.status) || e.compact || step >= e.run.steps.size()) return nullptr;
  const StepState& st = e.run.steps[step];
  if (st.status != StepStatus::kRunning || st.attempts.size() != attempt || !st.map) return nullptr;
  const MapState& m = *st.map;
  if (item >= m.total() || m.state[item] != MapState::kInFlight) return nullptr;
  return &m.items.as_array()[item];
}

void Coordinator::ExecuteItem(const WorkItem& w) {
  Entry& e = *w.entry;
  const json::Value* item = LiveItem(e, w.step, w.attempt, w.item);
  if (!item) return;         // superseded while queued (the run ended, the step failed fast)
  if (Releasing(e)) return;  // handed over: the next holder runs it again
  const Nanos now = MonoNow();
  stats_->hop.ObserveNanos(now - w.ready_at);
  const MapSpec& spec = *e.run.def->steps[w.step].map;
  switch (spec.item_type) {
    case StepType::kTransform: {
      RunStepResults results(e.run);
      json::Context ctx{item, &results, e.run.id_text, e.run.def->name};
      json::Value out = spec.output->Evaluate(ctx);
      Mutate(e, [&](Machine& m) {
        m.MapItemSucceeded(w.step, w.attempt, w.item, std::move(out));
        return 0;
      });
      return;
    }
    case StepType::kHttp: {
      if (closing_) return;  // after the restart the item runs again
      auto call = RenderHttp(e, w.step, w.attempt, w.item);
      if (!call) {  // a secret it names is missing
        Mutate(e, [&](Machine& m) {
          m.MapItemFailed(w.step, w.attempt, w.item, call.error().ToString());
          return 0;
        });
        return;
      }
      ++http_in_flight_;
      ++e.pending;
      reactor::Spawn(RunItemHttp(this, &e, w.step, w.attempt, w.item, std::move(*call)), &tasks_);
      return;
    }
    case StepType::kWorkflow:
      if (closing_) return;  // after the restart the item runs (or finds its child) again
      ++e.pending;
      reactor::Spawn(RunChild(this, &e, w.step, w.attempt, w.item), &tasks_);
      return;
    default: {  // noop: the item is its output
      json::Value out = *item;
      Mutate(e, [&](Machine& m) {
        m.MapItemSucceeded(w.step, w.attempt, w.item, std::move(out));
        return 0;
      });
      return;
    }
  }
}

// One call, one attempt: a map's items do not retry (on_failure decides what a failure does).
// Registered in the entry's in-flight calls under the map step, so the run's end aborts it.
reactor::Task<void> Coordinator::RunItemHttp(Coordinator* self, Entry* e, uint32_t step,
                                             uint32_t attempt, uint32_t item, HttpCall call) {
  bool cancelled = false;
  HttpResult r = co_await CallTracked(self, e, step, attempt, std::move(call), cancelled);  // suspends
  if (!cancelled && r.error.code != Errc::kCancelled) {
    const bool ok = r.error.code == Errc::kOk && r.status >= 200 && r.status < 300;
    self->Mutate(*e, [&](Machine& m) {
      if (ok) {
        m.MapItemSucceeded(
            step, attempt, item,
            json::Object{{"status", static_cast<int64_t>(r.status)}, {"body", std::move(r.body)}});
      } else {
        m.MapItemFailed(
            step, attempt, item,
            r.error.code == Errc::kOk ? "HTTP " + std::to_string(r.status) : r.error.ToString());
      }
      return 0;
    });
  }
  self->PumpNow();  // a slot is free
}

}  // namespace rf::engine
