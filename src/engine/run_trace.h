#pragma once
// A run as a trace: its ids, the traceparent its http attempts send, and the spans recorded when
// its records are appended (Coordinator::Persist). Ids are derived, never stored: the trace id is
// the caller's (Run::trace_parent, from the creation record) or else the run id's 16 bytes; the
// root span's id comes from (trace id, run id) and an attempt's from (trace id, step, attempt)
// with trace::DeriveSpanId. So the traceparent an attempt sent and the span exported for it agree,
// also across a restart.

#include "engine/record.h"
#include "engine/run.h"
#include "trace/tracer.h"

namespace rf::engine {

trace::TraceId RunTraceId(const Run& run);
trace::SpanId RunSpanId(const Run& run);
// `attempt` counts from 1 (StepState::attempts.size() once it started).
trace::SpanId AttemptSpanId(const Run& run, uint32_t step, size_t attempt);

// The `traceparent` of attempt `attempt` of `step`: sampled when `tracer` records this trace, else
// (no export) the caller's flag is passed on.
void AttemptTraceparent(const Run& run, uint32_t step, size_t attempt, const trace::Tracer* tracer,
                        char out[trace::kTraceparentSize]);

// Records the spans `r` (already applied to `run`) finished: a step attempt's (succeeded,
// failed, or cut short by the run's end) and, when the run finished, the run's root span. Only
// for sampled traces; nothing when the tracer's ring is full (counted there).
void RecordSpans(trace::Tracer& tracer, const Run& run, const Record& r);

}  // namespace rf::engine
