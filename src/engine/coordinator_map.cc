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
      reactor::Spawn(RunItemHttp(this, &e, w.step, w.attempt, w.item, w.item_try, std::move(*call)),
                     &tasks_);
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

// One call of an item, registered in the entry's in-flight calls under the map step, so the
// run's end aborts it. A failure the item's "retry" allows another try for (as an http step's:
// 5xx, on_status, transport errors) waits its backoff and queues the item again; otherwise it
// fails the item (on_failure decides what that does to the step).
reactor::Task<void> Coordinator::RunItemHttp(Coordinator* self, Entry* e, uint32_t step,
                                             uint32_t attempt, uint32_t item, uint32_t item_try,
                                             HttpCall call) {
  bool cancelled = false;
  HttpResult r = co_await CallTracked(self, e, step, attempt, std::move(call), cancelled);  // suspends
  if (!cancelled && r.error.code != Errc::kCancelled) {
    const bool ok = r.error.code == Errc::kOk && r.status >= 200 && r.status < 300;
    const std::optional<RetryPolicy>& retry = e->run.def->steps[step].map->retry;
    if (!ok && retry && RetryableHttp(r, *retry) && retry->ShouldRetry(static_cast<int>(item_try)) &&
        self->LiveItem(*e, step, attempt, item) && !self->Releasing(*e)) {
      self->RetryItemLater(*e, step, attempt, item, item_try + 1,
                           MonoNow() + retry->Backoff(static_cast<int>(item_try), self->NextUnit()));
      self->PumpNow();  // its http slot is free while it waits
      co_return;
    }
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

void Coordinator::RetryItemLater(const Entry& e, uint32_t step, uint32_t attempt, uint32_t item,
                                 uint32_t next_try, Nanos wake_at) {
  stats_->map_item_retries.Add();
  stats_->map_items_retrying.Add(1);
  item_retries_.emplace(wake_at, ItemRetry{e.run.id, step, attempt, item, next_try});
  if (item_retries_.begin()->first == wake_at)
    reactor::Shard::Current().Arm(&item_retry_node_, wake_at);
}

void Coordinator::OnItemRetryTimer(reactor::Shard::TimerNode* n) {
  Coordinator* self = static_cast<TimerNode*>(n)->self;
  if (self->closing_) return;  // after the restart the in-flight items run again
  const Nanos now = MonoNow();
  bool queued = false;
  while (!self->item_retries_.empty() && self->item_retries_.begin()->first <= now) {
    const ItemRetry r = self->item_retries_.begin()->second;
    self->item_retries_.erase(self->item_retries_.begin());
    self->stats_->map_items_retrying.Add(-1);
    Entry* e = self->Find(r.run);
    if (!e || !self->LiveItem(*e, r.step, r.attempt, r.item) || self->Releasing(*e)) continue;
    const auto p = static_cast<size_t>(e->run.priority);
    self->queues_[p][1].push_back(WorkItem{e, r.step, r.attempt, now, r.item, r.item_try});
    self->stats_->queue_depth[p].Add(1);
    ++e->pending;
    queued = true;
  }
  if (!self->item_retries_.empty())
    reactor::Shard::Current().Arm(&self->item_retry_node_, self->item_retries_.begin()->first);
  if (queued) self->SchedulePump();
}

}  // namespace rf::engine
