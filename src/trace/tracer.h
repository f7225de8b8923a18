#pragma once
// Tracer: a shard's span recorder and OTLP exporter. One per shard, used only on its thread.
// The engine claims spans (Record) on the hot path: a copy into a preallocated ring slot, never a
// wait. The shard's exporter task (Export) takes batches from that ring, encodes them as OTLP JSON
// and sends them through a Transport (app/ wires the shard's own HTTP client, on its reactor): no
// lock, queue or thread is shared between shards.
//
// Bounds: the ring holds `buffer_spans`; a span that finds it full is dropped and counted. A batch
// is sent once `batch_spans` are waiting or `batch_delay` passed since the last send. A failed send
// (transport error, 429, 5xx) is retried `max_retries` times with doubling backoff from
// `retry_initial`, each try bounded by `export_timeout`; then its spans count as failed. While a
// batch is being sent or retried, new spans wait in the ring (and are dropped when it is full):
// a receiver that is down costs memory bounded by the ring and never slows a run.

#include <functional>
#include <string>

#include "base/buffer.h"
#include "base/clock.h"
#include "base/result.h"
#include "obs/metrics.h"
#include "reactor/task.h"
#include "trace/span_buffer.h"

namespace rf::trace {

struct TraceOptions {
  std::string endpoint;  // OTLP/HTTP traces URL (…/v1/traces); empty: no export, nothing sampled
  double sample_ratio = 1.0;
  std::string service_name = "ringflow";
  std::string service_version;
  size_t buffer_spans = 4096;  // per shard
  size_t batch_spans = 512;
  Nanos batch_delay = 1 * kSeconds;
  int max_retries = 3;
  Nanos retry_initial = 200 * kMillis;
  Nanos export_timeout = 5 * kSeconds;
};

// Per shard; written by its shard only, read by /metrics anywhere.
struct TraceStats {
  obs::Counter exported;  // accepted by the receiver (2xx)
  obs::Counter dropped;   // found the ring full
  obs::Counter failed;    // their batch was refused or could not be sent after the retries
  obs::Counter batches;   // export requests that got a 2xx
  obs::Gauge buffered;    // spans in the ring now
};

// rf_trace_spans_total{outcome="exported|dropped|failed"}, rf_trace_export_batches_total,
// rf_trace_buffered_spans, summed over shards.
void RenderTraceMetrics(const std::vector<const TraceStats*>& shards, std::string& out);

class Tracer {
 public:
  // POSTs `body` (OTLP JSON) to the endpoint; the HTTP status, or an error. Suspends.
  using Transport = std::function<reactor::Task<Result<int>>(std::string body, Deadline deadline)>;

  // `options` and `stats` must outlive the tracer.
  Tracer(const TraceOptions& options, TraceStats* stats);
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // An endpoint is set: spans of sampled traces are recorded and exported.
  bool enabled() const { return enabled_; }
  // Whether spans of `trace` are recorded: enabled and chosen by the ratio (SampleByTraceId).
  bool Sampled(const TraceId& trace) const;
  // A slot to fill with a finished span of a sampled trace; nullptr when the ring is full (the
  // span is counted as dropped). Every field of the slot must be written.
  Span* Record();

  // The export loop: runs on the tracer's shard until Stop(), then sends one last batch of what
  // is buffered (one try of at most 1 s; the rest is dropped and counted). Suspends.
  reactor::Task<void> Export(Transport transport);
  void Stop() { stopping_ = true; }
  bool exporting() const { return exporting_; }

 private:
  // Encodes and sends the `count` oldest spans, `tries` times at most, each bounded by
  // `timeout`. Suspends.
  reactor::Task<void> SendBatch(size_t count, int tries, Nanos timeout);

  const TraceOptions& options_;
  TraceStats* stats_;
  const bool enabled_;
  SpanBuffer buffer_;
  Transport transport_;
  Buffer body_;
  bool stopping_ = false;
  bool exporting_ = false;
  bool failing_ = false;  // the last batch failed (logged once per outage)
};

}  // namespace rf::trace
