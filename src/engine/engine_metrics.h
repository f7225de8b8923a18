#pragma once
// Engine metrics. Each shard writes only its own ShardEngineStats (single
// writer, relaxed atomics, like every obs:: metric); /metrics on any shard
// reads all of them. Per-workflow counters live in an append-only list whose
// nodes are published with a release store, so a reader never sees a node
// half built and no lock is shared between shards.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/breaker_table.h"
#include "engine/definition.h"
#include "engine/namespace_usage.h"
#include "engine/permit_table.h"
#include "obs/metrics.h"
#include "store/history_store.h"

namespace rf::engine {

struct WorkflowCounters {
  std::string workflow;
  obs::Counter started;
  std::array<obs::Counter, 3> finished;  // succeeded, failed, cancelled
  WorkflowCounters* next = nullptr;
};

struct ShardEngineStats {
  // This shard's counters of `workflow`, created on first use (owner shard only).
  WorkflowCounters& Workflow(std::string_view workflow);
  const WorkflowCounters* workflows() const { return head_.load(std::memory_order_acquire); }

  std::array<std::array<obs::Counter, 4>, kStepTypes> steps;  // [StepType][succeeded, failed, retried, skipped]
  std::array<obs::Histogram, kStepTypes> step_duration;      // [StepType]: started -> finished
  obs::Histogram hop;                                // step ready (durable) -> started
  std::array<obs::Gauge, 3> queue_depth;             // [Priority]
  obs::Gauge runs_active;
  obs::Gauge runs_retained;
  obs::Counter runs_removed;    // by retention
  obs::Counter runs_quarantined;    // at start: a record of theirs could not be replayed
  obs::Counter records_unreadable;  // at start: undecodable records that name no readable run
  obs::Counter records_ignored;     // at start: records of runs already quarantined
  obs::Counter sse_dropped;     // subscribers cut off for not reading
  obs::Counter sse_writes;      // writes of event frames to subscribers (one per batch)
  obs::Counter sse_frames;      // frames in those writes (frames / writes: the coalescing)
  obs::Gauge sse_subscribers;
  // Finished runs and the history store (engine/history_store.h).
  obs::Gauge history_pending;       // finished runs waiting to be moved into history
  obs::Gauge history_cached_runs;   // finished runs kept in memory after the move
  obs::Gauge history_cache_bytes;   // what they cost (bounded by --history-cache)
  obs::Counter history_moved;       // runs moved into history
  obs::Counter history_evicted;     // cached runs dropped from memory
  obs::Counter history_loads;       // runs read back from history (GET, retry, SSE, keys)
  obs::Counter history_gets_here;   // GETs answered by Engine::GetFinished, without the owner
  obs::Counter history_move_failures;
  obs::Counter history_backpressure;  // starts that waited for moves to catch up
  obs::Gauge partitions_held;         // partitions whose runs this shard serves
  obs::Counter partitions_taken;      // partitions taken over from another instance
  obs::Counter partitions_released;   // partitions handed over to another instance at run time
  BreakerStats breakers;              // circuit breakers of http steps
  // Child runs of workflow steps (rf_subworkflow_runs_total{outcome}): started, and how the
  // children the parents saw end ended (succeeded, failed, cancelled); refused: a start the
  // step could not make (workflow_not_found, workflow_depth_exceeded, ...).
  std::array<obs::Counter, 5> subworkflows;
  // Items of map steps whose end was recorded (rf_map_items_total{outcome}): succeeded, failed.
  std::array<obs::Counter, 2> map_items;
  obs::Counter map_item_retries;   // http item calls made again after a retryable failure
  obs::Gauge map_items_retrying;   // http items waiting for their next call
  obs::Gauge flow_queued;             // runs queued behind their key's concurrency limit
  obs::Gauge flow_keys;               // concurrency keys with live or queued runs (gates)
  obs::Counter flow_dequeued;         // queued runs started as a slot freed
  PermitStats permits;                // step-level concurrency limits (engine/permit_table.h)

  ~ShardEngineStats();

 private:
  std::atomic<WorkflowCounters*> head_{nullptr};
};

struct EngineMetrics {
  explicit EngineMetrics(size_t n) : shards(n) {}
  std::vector<ShardEngineStats> shards;
  obs::Gauge members;  // live instances sharing the store (0: a store whose partitions never move)
  NamespaceUsage namespaces;  // live runs per namespace (the live-runs quota)
};

// Appends the rf_runs_*, rf_steps_*, rf_step_*, rf_queue_*, rf_sse_*, rf_history_* families.
void RenderEngineMetrics(const EngineMetrics& m, std::string& out);

// The rf_breaker_* families (part of RenderEngineMetrics).
void RenderBreakerMetrics(const EngineMetrics& m, obs::TextExposition& x);

// The rf_step_permit* families (part of RenderEngineMetrics).
void RenderPermitMetrics(const EngineMetrics& m, obs::TextExposition& x);

// Appends the history store's own families (nothing when `h` is null).
void RenderHistoryMetrics(const store::HistoryStats* h, std::string& out);

}  // namespace rf::engine
