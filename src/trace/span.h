#pragma once
// Span: one finished operation of a trace, as the exporter sends it. The attributes ringflow
// records are fixed fields (no map): run.id, workflow, step.id, attempt, status.

#include <cstdint>
#include <string>

#include "trace/trace_context.h"

namespace rf::trace {

enum class SpanKind : uint8_t { kInternal = 1, kServer = 2, kClient = 3 };  // OTLP's numbers
enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };        // OTLP's numbers

struct Span {
  TraceId trace;
  SpanId id = 0;
  SpanId parent = 0;  // 0: a root span
  SpanKind kind = SpanKind::kInternal;
  std::string name;
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // with kError
  // Attributes; an empty string (or attempt 0) is left out.
  std::string run_id;    // run.id
  std::string workflow;  // workflow (qualified: "ns/name" outside the default namespace)
  std::string step_id;   // step.id
  int64_t attempt = 0;   // attempt, from 1
  std::string outcome;   // status: succeeded, failed, retrying, cancelled, ...
};

}  // namespace rf::trace
