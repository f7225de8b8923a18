#include "trace/otlp_json.h"

#include "json/writer.h"

namespace rf::trace {
namespace {

void StringAttr(std::string_view key, std::string_view value, bool& first, Buffer& out) {
  if (value.empty()) return;
  out.Append(first ? "{\"key\":\"" : ",{\"key\":\"");
  first = false;
  out.Append(key);
  out.Append("\",\"value\":{\"stringValue\":");
  json::WriteString(value, out);
  out.Append("}}");
}

void IntAttr(std::string_view key, int64_t value, bool& first, Buffer& out) {
  out.Append(first ? "{\"key\":\"" : ",{\"key\":\"");
  first = false;
  out.Append(key);
  out.Append("\",\"value\":{\"intValue\":\"");
  out.AppendSigned(value);
  out.Append("\"}}");
}

void Time(std::string_view key, int64_t ns, Buffer& out) {
  out.Append(",\"");
  out.Append(key);
  out.Append("\":\"");
  out.AppendUnsigned(static_cast<unsigned long long>(ns < 0 ? 0 : ns));
  out.Append('"');
}

void EncodeSpan(const Span& s, Buffer& out) {
  char trace[kTraceIdHex];
  char id[kSpanIdHex];
  FormatTraceId(s.trace, trace);
  out.Append("{\"traceId\":\"");
  out.Append(std::string_view(trace, sizeof trace));
  FormatSpanId(s.id, id);
  out.Append("\",\"spanId\":\"");
  out.Append(std::string_view(id, sizeof id));
  out.Append('"');
  if (s.parent != 0) {
    FormatSpanId(s.parent, id);
    out.Append(",\"parentSpanId\":\"");
    out.Append(std::string_view(id, sizeof id));
    out.Append('"');
  }
  out.Append(",\"name\":");
  json::WriteString(s.name, out);
  out.Append(",\"kind\":");
  out.AppendUnsigned(static_cast<unsigned>(s.kind));
  Time("startTimeUnixNano", s.start_unix_ns, out);
  Time("endTimeUnixNano", s.end_unix_ns, out);
  out.Append(",\"attributes\":[");
  bool first = true;
  StringAttr("run.id", s.run_id, first, out);
  StringAttr("workflow", s.workflow, first, out);
  StringAttr("step.id", s.step_id, first, out);
  if (s.attempt > 0) IntAttr("attempt", s.attempt, first, out);
  StringAttr("status", s.outcome, first, out);
  out.Append("],\"status\":{");
  if (s.status != SpanStatus::kUnset) {
    out.Append("\"code\":");
    out.AppendUnsigned(static_cast<unsigned>(s.status));
    if (!s.status_message.empty()) {
      out.Append(",\"message\":");
      json::WriteString(s.status_message, out);
    }
  }
  out.Append("}}");
}

}  // namespace

void EncodeOtlpJson(const SpanBuffer& spans, size_t count, std::string_view service_name,
                    std::string_view service_version, Buffer& out) {
  out.Append("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
  bool first = true;
  StringAttr("service.name", service_name, first, out);
  StringAttr("service.version", service_version, first, out);
  out.Append("]},\"scopeSpans\":[{\"scope\":{\"name\":\"ringflow\"},\"spans\":[");
  for (size_t i = 0; i < count; ++i) {
    if (i) out.Append(',');
    EncodeSpan(spans.At(i), out);
  }
  out.Append("]}]}]}");
}

}  // namespace rf::trace
