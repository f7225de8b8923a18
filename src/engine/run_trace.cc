#include "engine/run_trace.h"

namespace rf::engine {
namespace {

// Distinguishes the root span's derivation from every attempt's (whose `a` is a step index).
constexpr uint64_t kRootTag = UINT64_MAX;

int64_t MsToNs(int64_t ms) { return ms * 1'000'000; }

void FillCommon(trace::Span& s, const Run& run) {
  s.trace = RunTraceId(run);
  s.run_id = run.id_text;
  s.workflow = run.def->name;
}

void RecordAttempt(trace::Tracer& tracer, const Run& run, uint32_t step) {
  const StepState& st = run.steps[step];
  if (st.attempts.empty()) return;
  const Attempt& a = st.attempts.back();
  trace::Span* s = tracer.Record();
  if (!s) return;
  const Step& def = run.def->steps[step];
  FillCommon(*s, run);
  s->id = AttemptSpanId(run, step, st.attempts.size());
  s->parent = RunSpanId(run);
  s->kind = def.type == StepType::kHttp ? trace::SpanKind::kClient : trace::SpanKind::kInternal;
  s->name.assign("step ").append(def.id);
  s->start_unix_ns = MsToNs(a.started_ms);
  s->end_unix_ns = MsToNs(a.finished_ms ? a.finished_ms : run.updated_ms);
  const bool ok = st.status == StepStatus::kSucceeded;
  s->status = ok ? trace::SpanStatus::kOk : trace::SpanStatus::kError;
  s->status_message.assign(ok ? std::string_view() : std::string_view(a.error));
  s->step_id.assign(def.id);
  s->attempt = static_cast<int64_t>(st.attempts.size());
  s->outcome.assign(StepStatusName(st.status));
}

void RecordRoot(trace::Tracer& tracer, const Run& run) {
  trace::Span* s = tracer.Record();
  if (!s) return;
  FillCommon(*s, run);
  s->id = RunSpanId(run);
  s->parent = run.trace_parent.valid() ? run.trace_parent.span : 0;
  s->kind = trace::SpanKind::kServer;
  s->name.assign("run ").append(run.def->name);
  s->start_unix_ns = MsToNs(run.created_ms);
  s->end_unix_ns = MsToNs(run.finished_ms);
  const bool ok = run.status == RunStatus::kSucceeded;
  s->status = ok ? trace::SpanStatus::kOk : trace::SpanStatus::kError;
  s->status_message.assign(ok ? std::string_view() : std::string_view(run.error));
  s->step_id.clear();
  s->attempt = 0;
  s->outcome.assign(RunStatusName(run.status));
}

}  // namespace

trace::TraceId RunTraceId(const Run& run) {
  if (run.trace_parent.valid()) return run.trace_parent.trace;
  return trace::TraceIdFromBytes(run.id.bytes);
}

trace::SpanId RunSpanId(const Run& run) {
  const trace::TraceId own = trace::TraceIdFromBytes(run.id.bytes);
  return trace::DeriveSpanId(RunTraceId(run), own.hi ^ own.lo, kRootTag);
}

trace::SpanId AttemptSpanId(const Run& run, uint32_t step, size_t attempt) {
  const trace::TraceId own = trace::TraceIdFromBytes(run.id.bytes);
  // The run id takes part: two runs that joined one caller's trace get different span ids.
  return trace::DeriveSpanId(RunTraceId(run), own.hi ^ own.lo ^ (uint64_t{step} << 32),
                             static_cast<uint64_t>(attempt));
}

void AttemptTraceparent(const Run& run, uint32_t step, size_t attempt, const trace::Tracer* tracer,
                        char out[trace::kTraceparentSize]) {
  const trace::TraceId id = RunTraceId(run);
  bool sampled = tracer && tracer->enabled() ? tracer->Sampled(id) : run.trace_parent.sampled();
  trace::FormatTraceparent(id, AttemptSpanId(run, step, attempt), sampled ? trace::kSampledFlag : 0, out);
}

void RecordSpans(trace::Tracer& tracer, const Run& run, const Record& r) {
  switch (r.type) {
    case RecordType::kStepSucceeded:
    case RecordType::kStepFailed:
      if (r.step < run.steps.size() && tracer.Sampled(RunTraceId(run))) RecordAttempt(tracer, run, r.step);
      return;
    case RecordType::kRunFinished: {
      if (!tracer.Sampled(RunTraceId(run))) return;
      // Attempts the end cut short (cancel, run timeout) finished with this record.
      for (uint32_t i = 0; i < run.steps.size(); ++i) {
        const StepState& st = run.steps[i];
        if (st.status == StepStatus::kCancelled && !st.attempts.empty() &&
            st.attempts.back().finished_ms == r.at_ms && i != r.step)
          RecordAttempt(tracer, run, i);
      }
      RecordRoot(tracer, run);
      return;
    }
    default:
      return;
  }
}

}  // namespace rf::engine
