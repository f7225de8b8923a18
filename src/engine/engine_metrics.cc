#include "engine/engine_metrics.h"

#include <algorithm>
#include <span>

#include "engine/definition.h"
#include "store/history_store.h"

namespace rf::engine {

ShardEngineStats::~ShardEngineStats() {
  for (WorkflowCounters* w = head_.load(); w;) delete std::exchange(w, w->next);
}

WorkflowCounters& ShardEngineStats::Workflow(std::string_view workflow) {
  // Workflows are few; a linear scan beats hashing for the handful a shard sees.
  for (WorkflowCounters* w = head_.load(std::memory_order_relaxed); w; w = w->next)
    if (w->workflow == workflow) return *w;
  auto* w = new WorkflowCounters;
  w->workflow = workflow;
  w->next = head_.load(std::memory_order_relaxed);
  head_.store(w, std::memory_order_release);
  return *w;
}

namespace {

constexpr const char* kOutcomes[] = {"succeeded", "failed", "retried", "skipped"};
constexpr const char* kFinished[] = {"succeeded", "failed", "cancelled"};
constexpr const char* kPriorities[] = {"critical", "default", "low"};

std::string TypeLabel(size_t t) {
  return "type=\"" + std::string(StepTypeName(static_cast<StepType>(t))) + "\"";
}

}  // namespace

void RenderEngineMetrics(const EngineMetrics& m, std::string& out) {
  obs::TextExposition x(out);
  // Per-workflow counters, summed over shards (each shard has its own list).
  std::vector<std::pair<std::string, std::array<uint64_t, 4>>> wf;
  for (const ShardEngineStats& s : m.shards) {
    for (const WorkflowCounters* w = s.workflows(); w; w = w->next) {
      auto it = std::find_if(wf.begin(), wf.end(), [&](auto& p) { return p.first == w->workflow; });
      if (it == wf.end()) it = wf.insert(wf.end(), {w->workflow, {0, 0, 0, 0}});
      it->second[0] += w->started.Get();
      for (size_t i = 0; i < 3; ++i) it->second[i + 1] += w->finished[i].Get();
    }
  }
  x.Family("rf_runs_started_total", "counter", "Runs created, by workflow.");
  for (auto& [name, v] : wf) x.SampleU("rf_runs_started_total", "workflow=\"" + obs::LabelValue(name) + "\"", v[0]);
  x.Family("rf_runs_finished_total", "counter", "Runs that reached a terminal state, by workflow and status.");
  for (auto& [name, v] : wf)
    for (size_t i = 0; i < 3; ++i)
      x.SampleU("rf_runs_finished_total",
                "workflow=\"" + obs::LabelValue(name) + "\",status=\"" + kFinished[i] + "\"", v[i + 1]);

  x.Family("rf_steps_total", "counter", "Step attempts finished, by type and outcome.");
  for (size_t t = 0; t < kStepTypes; ++t) {
    for (size_t o = 0; o < 4; ++o) {
      uint64_t n = 0;
      for (const ShardEngineStats& s : m.shards) n += s.steps[t][o].Get();
      x.SampleU("rf_steps_total", TypeLabel(t) + ",outcome=\"" + kOutcomes[o] + "\"", n);
    }
  }
  std::vector<const obs::Histogram*> parts;
  x.Family("rf_step_duration_seconds", "histogram", "Step attempt duration, started to finished.");
  for (size_t t = 0; t < kStepTypes; ++t) {
    parts.clear();
    for (const ShardEngineStats& s : m.shards) parts.push_back(&s.step_duration[t]);
    x.HistogramSum("rf_step_duration_seconds", TypeLabel(t), parts);
  }
  x.Family("rf_step_hop_seconds", "histogram",
           "Hop latency: a step ready (its cause durable) to its executor starting.");
  parts.clear();
  for (const ShardEngineStats& s : m.shards) parts.push_back(&s.hop);
  x.HistogramSum("rf_step_hop_seconds", "", parts);

  x.Family("rf_subworkflow_runs_total", "counter",
           "Child runs of workflow steps: started, ended (as their parent saw them), or refused.");
  constexpr const char* kChildOutcomes[] = {"started", "succeeded", "failed", "cancelled", "refused"};
  for (size_t o = 0; o < 5; ++o) {
    uint64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.subworkflows[o].Get();
    x.SampleU("rf_subworkflow_runs_total", std::string("outcome=\"") + kChildOutcomes[o] + "\"", n);
  }

  x.Family("rf_map_items_total", "counter", "Items of map steps that ended, by outcome.");
  constexpr const char* kItemOutcomes[] = {"succeeded", "failed"};
  for (size_t o = 0; o < 2; ++o) {
    uint64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.map_items[o].Get();
    x.SampleU("rf_map_items_total", std::string("outcome=\"") + kItemOutcomes[o] + "\"", n);
  }

  x.Family("rf_queue_depth", "gauge", "Steps waiting in the worker queues, by priority.");
  for (size_t p = 0; p < 3; ++p) {
    int64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.queue_depth[p].Get();
    x.Sample("rf_queue_depth", std::string("priority=\"") + kPriorities[p] + "\"", static_cast<double>(n));
  }
  auto sum_gauge = [&](const char* name, const char* type, const char* help, auto get) {
    x.Family(name, type, help);
    double n = 0;
    for (const ShardEngineStats& s : m.shards) n += static_cast<double>(get(s));
    x.Sample(name, "", n);
  };
  sum_gauge("rf_runs_active", "gauge", "Runs not yet terminal.",
            [](const ShardEngineStats& s) { return s.runs_active.Get(); });
  sum_gauge("rf_runs_retained", "gauge", "Runs held in memory (active, finished runs not yet in history, cached).",
            [](const ShardEngineStats& s) { return s.runs_retained.Get(); });
  sum_gauge("rf_map_item_retries_total", "counter",
            "Calls of map steps' http items made again after a retryable failure (the item's retry).",
            [](const ShardEngineStats& s) { return s.map_item_retries.Get(); });
  sum_gauge("rf_map_items_retrying", "gauge", "Http items of map steps waiting for their next call.",
            [](const ShardEngineStats& s) { return s.map_items_retrying.Get(); });
  sum_gauge("rf_flow_queued_runs", "gauge",
            "Runs queued behind their key's concurrency limit (per key: GET /v1/workflows/{name}/concurrency).",
            [](const ShardEngineStats& s) { return s.flow_queued.Get(); });
  sum_gauge("rf_flow_keys", "gauge", "Concurrency keys with live or queued runs.",
            [](const ShardEngineStats& s) { return s.flow_keys.Get(); });
  sum_gauge("rf_flow_dequeued_total", "counter", "Queued runs started as a slot of their key freed.",
            [](const ShardEngineStats& s) { return s.flow_dequeued.Get(); });
  sum_gauge("rf_runs_removed_total", "counter", "Terminal runs removed by retention.",
            [](const ShardEngineStats& s) { return s.runs_removed.Get(); });
  sum_gauge("rf_runs_quarantined_total", "counter",
            "Runs failed at start because a record of theirs could not be replayed (see the log).",
            [](const ShardEngineStats& s) { return s.runs_quarantined.Get(); });
  sum_gauge("rf_records_unreadable_total", "counter",
            "Records skipped at start: undecodable, and naming no readable run (see the log).",
            [](const ShardEngineStats& s) { return s.records_unreadable.Get(); });
  sum_gauge("rf_records_ignored_total", "counter",
            "Records of quarantined runs not applied at start (kept in the run's log).",
            [](const ShardEngineStats& s) { return s.records_ignored.Get(); });
  sum_gauge("rf_sse_subscribers", "gauge", "Open event streams.",
            [](const ShardEngineStats& s) { return s.sse_subscribers.Get(); });
  sum_gauge("rf_sse_dropped_total", "counter", "Event streams cut off because the client did not read.",
            [](const ShardEngineStats& s) { return s.sse_dropped.Get(); });
  sum_gauge("rf_sse_writes_total", "counter", "Writes of event frames to streams (several frames ready together share one).",
            [](const ShardEngineStats& s) { return s.sse_writes.Get(); });
  sum_gauge("rf_sse_frames_total", "counter", "Event frames written to streams.",
            [](const ShardEngineStats& s) { return s.sse_frames.Get(); });
  sum_gauge("rf_history_pending_runs", "gauge", "Finished runs waiting to be moved into history.",
            [](const ShardEngineStats& s) { return s.history_pending.Get(); });
  sum_gauge("rf_history_cached_runs", "gauge", "Finished runs kept in memory after their move.",
            [](const ShardEngineStats& s) { return s.history_cached_runs.Get(); });
  sum_gauge("rf_history_cache_bytes", "gauge", "Memory held by cached finished runs (bound: --history-cache).",
            [](const ShardEngineStats& s) { return s.history_cache_bytes.Get(); });
  sum_gauge("rf_history_moved_total", "counter", "Finished runs moved into history.",
            [](const ShardEngineStats& s) { return s.history_moved.Get(); });
  sum_gauge("rf_history_evicted_total", "counter", "Cached finished runs dropped from memory.",
            [](const ShardEngineStats& s) { return s.history_evicted.Get(); });
  sum_gauge("rf_history_loads_total", "counter", "Finished runs read back from history.",
            [](const ShardEngineStats& s) { return s.history_loads.Get(); });
  sum_gauge("rf_history_gets_here_total", "counter",
            "GETs of succeeded runs answered from history on the shard that read them, "
            "without a hop to the owner.",
            [](const ShardEngineStats& s) { return s.history_gets_here.Get(); });
  sum_gauge("rf_history_move_failures_total", "counter", "Moves into history that failed (retried).",
            [](const ShardEngineStats& s) { return s.history_move_failures.Get(); });
  sum_gauge("rf_partitions_held", "gauge",
            "Partitions whose runs this instance serves (all of them unless another instance "
            "shares the database).",
            [](const ShardEngineStats& s) { return s.partitions_held.Get(); });
  sum_gauge("rf_partitions_taken_over_total", "counter",
            "Partitions taken over from another instance (it stopped, or its leases expired).",
            [](const ShardEngineStats& s) { return s.partitions_taken.Get(); });
  x.Family("rf_cluster_members", "gauge", "Live instances sharing the database (0 without a shared one).");
  x.Sample("rf_cluster_members", "", static_cast<double>(m.members.Get()));
  sum_gauge("rf_partitions_handed_over_total", "counter",
            "Partitions handed over at run time to the instance the ring of live members gives them.",
            [](const ShardEngineStats& s) { return s.partitions_released.Get(); });
  sum_gauge("rf_history_backpressure_total", "counter",
            "Times a start waited because finished runs queued for history were at their bound.",
            [](const ShardEngineStats& s) { return s.history_backpressure.Get(); });
  RenderBreakerMetrics(m, x);
  RenderPermitMetrics(m, x);
}

void RenderPermitMetrics(const EngineMetrics& m, obs::TextExposition& x) {
  // Each id lives on one home shard, so the shards' busiest lists are disjoint: merge them, keep
  // the kTop busiest, and sum the rest (from the shards' totals) into scope="other": the label set
  // stays bounded however many keys there are.
  constexpr size_t kTop = PermitTop::kSlots;
  std::vector<PermitTop::Row> rows;
  int64_t waiting = 0, in_use = 0;
  for (const ShardEngineStats& s : m.shards) {
    for (PermitTop::Row& r : s.permits.top.Read()) rows.push_back(std::move(r));
    waiting += s.permits.waiting.Get();
    in_use += s.permits.in_use.Get();
  }
  std::sort(rows.begin(), rows.end(), [](const PermitTop::Row& a, const PermitTop::Row& b) {
    if (a.waiting != b.waiting) return a.waiting > b.waiting;
    if (a.in_use != b.in_use) return a.in_use > b.in_use;
    return a.scope != b.scope ? a.scope < b.scope : a.key < b.key;
  });
  if (rows.size() > kTop) rows.resize(kTop);
  auto family = [&](const char* name, const char* help, int64_t total, auto get) {
    x.Family(name, "gauge", help);
    int64_t listed = 0;
    for (const PermitTop::Row& r : rows) {
      listed += get(r);
      x.Sample(name, "scope=\"" + obs::LabelValue(r.scope) + "\",key=\"" + obs::LabelValue(r.key) + "\"",
               static_cast<double>(get(r)));
    }
    // The busiest lists are up to a second old; the totals are current.
    x.Sample(name, "scope=\"other\",key=\"other\"", static_cast<double>(std::max<int64_t>(total - listed, 0)));
  };
  family("rf_step_permits_waiting",
         "Attempts of http steps waiting for a concurrency permit: the 10 busiest (scope, key), then "
         "the rest as other (every key: GET /v1/workflows/{name}/concurrency).",
         waiting, [](const PermitTop::Row& r) { return r.waiting; });
  family("rf_step_permits_in_use", "Concurrency permits of http steps in use, as rf_step_permits_waiting.",
         in_use, [](const PermitTop::Row& r) { return r.in_use; });
  auto sum = [&](const char* name, const char* type, const char* help, auto get) {
    x.Family(name, type, help);
    double n = 0;
    for (const ShardEngineStats& s : m.shards) n += static_cast<double>(get(s.permits));
    x.Sample(name, "", n);
  };
  sum("rf_step_permit_keys", "gauge", "Step concurrency (scope, key)s with permits in use or waiters.",
      [](const PermitStats& p) { return p.ids.Get(); });
  sum("rf_step_permit_asking", "gauge",
      "Attempts of this instance waiting for a permit (as rf_step_permits_waiting, counted where they run).",
      [](const PermitStats& p) { return p.asking.Get(); });
  sum("rf_step_permit_granted_total", "counter", "Step concurrency permits granted.",
      [](const PermitStats& p) { return p.granted.Get(); });
  sum("rf_step_permit_refused_total", "counter",
      "Permit requests refused because --step-permit-waiters attempts already waited on the key's "
      "home shard (the attempt failed, retryably).",
      [](const PermitStats& p) { return p.refused.Get(); });
  sum("rf_step_permit_cancelled_total", "counter",
      "Waiting attempts that left the queue before their turn (their run ended or moved).",
      [](const PermitStats& p) { return p.cancelled.Get(); });
  sum("rf_step_permit_leases", "gauge",
      "Permits in use here that are leases of the cluster's (--redis-url: a limit holds for every "
      "daemon together).",
      [](const PermitStats& p) { return p.leases.Get(); });
  sum("rf_step_permit_lease_asks_total", "counter", "Asks to Redis for a permit's lease.",
      [](const PermitStats& p) { return p.lease_asks.Get(); });
  sum("rf_step_permit_lease_waits_total", "counter",
      "Lease asks answered 'wait': the key's limit is in use over the cluster, or another daemon is "
      "ahead in its line (asked again every 20 ms).",
      [](const PermitStats& p) { return p.lease_waits.Get(); });
  sum("rf_step_permit_lease_errors_total", "counter",
      "Lease asks, renewals and returns that failed (Redis away or slower than 1 s).",
      [](const PermitStats& p) { return p.lease_errors.Get(); });
  sum("rf_step_permit_fallback_total", "counter",
      "Permits granted without a lease while Redis was away, within this daemon's split of the "
      "limit (limit / live members, at least 1).",
      [](const PermitStats& p) { return p.fallback.Get(); });
}

void RenderBreakerMetrics(const EngineMetrics& m, obs::TextExposition& x) {
  constexpr const char* kStates[] = {"closed", "open", "half_open"};
  constexpr const char* kWhenOpen[] = {"fail", "delay"};
  // Counts by state, not a series per key: keys are as many as hosts, the label set is not.
  x.Family("rf_breaker_state", "gauge",
           "Circuit breakers of http steps by state (every shard's own, --breakers-max each).");
  for (size_t i = 0; i < 3; ++i) {
    int64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.breakers.state[i].Get();
    x.Sample("rf_breaker_state", std::string("state=\"") + kStates[i] + "\"", static_cast<double>(n));
  }
  x.Family("rf_breaker_transitions_total", "counter", "Circuit breaker transitions, by the state entered.");
  for (size_t i = 0; i < 3; ++i) {
    uint64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.breakers.transitions[i].Get();
    x.SampleU("rf_breaker_transitions_total", std::string("to=\"") + kStates[i] + "\"", n);
  }
  x.Family("rf_breaker_rejected_total", "counter",
           "http step attempts a breaker kept from calling their host, by when_open (fail: the "
           "attempt failed; delay: it waited).");
  for (size_t i = 0; i < 2; ++i) {
    uint64_t n = 0;
    for (const ShardEngineStats& s : m.shards) n += s.breakers.rejected[i].Get();
    x.SampleU("rf_breaker_rejected_total", std::string("when_open=\"") + kWhenOpen[i] + "\"", n);
  }
  uint64_t evicted = 0;
  int64_t delayed = 0;
  for (const ShardEngineStats& s : m.shards) {
    evicted += s.breakers.evicted.Get();
    delayed += s.breakers.delayed.Get();
  }
  x.Family("rf_breaker_evicted_total", "counter",
           "Breakers dropped as least recently used beyond --breakers-max (an open one forgets it).");
  x.SampleU("rf_breaker_evicted_total", "", evicted);
  x.Family("rf_breaker_delayed_steps", "gauge", "http steps waiting for their breaker (when_open: delay).");
  x.Sample("rf_breaker_delayed_steps", "", static_cast<double>(delayed));
}

void RenderHistoryMetrics(const store::HistoryStats* h, std::string& out) {
  if (!h) return;
  obs::TextExposition x(out);
  auto one = [&](const char* name, const char* type, const char* help, double v) {
    x.Family(name, type, help);
    x.Sample(name, "", v);
  };
  one("rf_history_runs_written_total", "counter", "Runs written to the history store.",
      static_cast<double>(h->runs_written.Get()));
  one("rf_history_write_batches_total", "counter", "Write batches (one durable write each).",
      static_cast<double>(h->write_batches.Get()));
  one("rf_history_reads_total", "counter", "History lookups and listings run by the helpers (not the inline hits).",
      static_cast<double>(h->reads.Get()));
  one("rf_history_rejected_total", "counter", "Calls refused because the helper queue was full.",
      static_cast<double>(h->rejected.Get()));
  one("rf_history_expired_total", "counter", "Runs removed from history by retention.",
      static_cast<double>(h->runs_expired.Get()));
  one("rf_history_queue_depth", "gauge", "History jobs waiting for a helper thread.",
      static_cast<double>(h->queued.Get()));
  uint64_t hit = 0, fallback = 0;
  for (const auto& slot : h->inline_reads) {
    hit += slot.hit.Get();
    fallback += slot.fallback.Get();
  }
  x.Family("rf_history_inline_reads_total", "counter",
           "Reads tried on the shard from memory first: answered there (hit) or handed to the helpers (fallback).");
  x.SampleU("rf_history_inline_reads_total", "outcome=\"hit\"", hit);
  x.SampleU("rf_history_inline_reads_total", "outcome=\"fallback\"", fallback);
  const obs::Histogram* r[] = {&h->read_latency};
  x.Family("rf_history_read_seconds", "histogram", "One history read, queued to answered.");
  x.HistogramSum("rf_history_read_seconds", "", r);
  const obs::Histogram* w[] = {&h->write_latency};
  x.Family("rf_history_write_seconds", "histogram", "One history write batch, queued to durable.");
  x.HistogramSum("rf_history_write_seconds", "", w);
}

}  // namespace rf::engine
