#include "trace/tracer.h"

#include <algorithm>

#include "obs/log.h"
#include "reactor/shard.h"
#include "trace/otlp_json.h"

namespace rf::trace {
namespace {

// How often the exporter looks at its ring: the latency of a full batch, not of a span.
constexpr Nanos kPoll = 50 * kMillis;
// The deadline of each last batch sent while the daemon stops.
constexpr Nanos kFinalTimeout = 1 * kSeconds;

}  // namespace

void RenderTraceMetrics(const std::vector<const TraceStats*>& shards, std::string& out) {
  uint64_t exported = 0, dropped = 0, failed = 0, batches = 0;
  int64_t buffered = 0;
  for (const TraceStats* s : shards) {
    exported += s->exported.Get();
    dropped += s->dropped.Get();
    failed += s->failed.Get();
    batches += s->batches.Get();
    buffered += s->buffered.Get();
  }
  obs::TextExposition x(out);
  x.Family("rf_trace_spans_total", "counter",
           "Spans by outcome: exported (accepted by the OTLP receiver), dropped (the shard's buffer "
           "was full), failed (the receiver refused them or could not be reached after retries).");
  x.SampleU("rf_trace_spans_total", "outcome=\"exported\"", exported);
  x.SampleU("rf_trace_spans_total", "outcome=\"dropped\"", dropped);
  x.SampleU("rf_trace_spans_total", "outcome=\"failed\"", failed);
  x.Family("rf_trace_export_batches_total", "counter", "OTLP export requests the receiver accepted.");
  x.SampleU("rf_trace_export_batches_total", "", batches);
  x.Family("rf_trace_buffered_spans", "gauge", "Spans waiting in the shards' export buffers.");
  x.Sample("rf_trace_buffered_spans", "", static_cast<double>(buffered));
}

Tracer::Tracer(const TraceOptions& options, TraceStats* stats)
    : options_(options),
      stats_(stats),
      enabled_(!options.endpoint.empty()),
      buffer_(enabled_ ? std::max<size_t>(options.buffer_spans, 1) : 1) {}

bool Tracer::Sampled(const TraceId& trace) const {
  return enabled_ && SampleByTraceId(trace, options_.sample_ratio);
}

Span* Tracer::Record() {
  if (!enabled_) return nullptr;
  Span* s = buffer_.Claim();
  if (!s) {
    stats_->dropped.Add();
    return nullptr;
  }
  stats_->buffered.Set(static_cast<int64_t>(buffer_.size()));
  return s;
}

reactor::Task<void> Tracer::Export(Transport transport) {
  transport_ = std::move(transport);
  exporting_ = true;
  Nanos last_send = MonoNow();
  while (!stopping_) {
    co_await reactor::Sleep(kPoll);  // suspends
    const bool full = buffer_.size() >= options_.batch_spans;
    if (buffer_.size() == 0 || (!full && MonoNow() - last_send < options_.batch_delay)) continue;
    // Everything waiting goes now, batch by batch; a partial batch only when its delay is up.
    do {
      co_await SendBatch(std::min(buffer_.size(), options_.batch_spans), options_.max_retries + 1,
                         options_.export_timeout);  // suspends
    } while (!stopping_ && buffer_.size() >= options_.batch_spans);
    last_send = MonoNow();
  }
  // Stopping: one last batch gets one short try, so a receiver that is away cannot hold the
  // drain for long; spans beyond it are dropped (counted).
  if (buffer_.size() > 0) {
    co_await SendBatch(std::min(buffer_.size(), options_.batch_spans), 1,
                       std::min(options_.export_timeout, kFinalTimeout));  // suspends
  }
  stats_->dropped.Add(buffer_.size());
  buffer_.Pop(buffer_.size());
  stats_->buffered.Set(0);
  exporting_ = false;
}

reactor::Task<void> Tracer::SendBatch(size_t count, int tries, Nanos timeout) {
  body_.Clear();
  EncodeOtlpJson(buffer_, count, options_.service_name, options_.service_version, body_);
  buffer_.Pop(count);  // encoded: the slots may take new spans while this batch is sent
  stats_->buffered.Set(static_cast<int64_t>(buffer_.size()));
  const std::string body(body_.view());
  Nanos backoff = options_.retry_initial;
  std::string why;
  for (int i = 0; i < tries; ++i) {
    Result<int> r = co_await transport_(body, Deadline::After(timeout));  // suspends
    if (r && *r >= 200 && *r < 300) {
      stats_->exported.Add(count);
      stats_->batches.Add();
      if (failing_) RF_LOG(kInfo, "trace export works again", {"endpoint", options_.endpoint});
      failing_ = false;
      co_return;
    }
    why = r ? "HTTP " + std::to_string(*r) : r.error().ToString();
    // A 4xx other than 429 means the receiver will not take this batch however often it is sent.
    const bool retryable = !r || *r == 429 || *r >= 500;
    if (!retryable || i + 1 == tries || stopping_) break;
    co_await reactor::Sleep(backoff);  // suspends
    backoff *= 2;
  }
  stats_->failed.Add(count);
  if (!failing_)
    RF_LOG(kWarn, "trace export failed; spans are counted in rf_trace_spans_total{outcome=\"failed\"}",
           {"endpoint", options_.endpoint}, {"error", why}, {"spans", count});
  failing_ = true;
}

}  // namespace rf::trace
