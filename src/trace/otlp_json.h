#pragma once
// The OTLP/HTTP JSON encoding of an export request (ExportTraceServiceRequest, POST /v1/traces,
// Content-Type application/json): ids as lower-case hex, 64-bit integers as decimal strings,
// enums as numbers, one resource (service.name) and one scope ("ringflow"). Pure.

#include <string_view>

#include "base/buffer.h"
#include "trace/span_buffer.h"

namespace rf::trace {

// Appends the request holding spans [0, count) of `spans` to `out`.
void EncodeOtlpJson(const SpanBuffer& spans, size_t count, std::string_view service_name,
                    std::string_view service_version, Buffer& out);

}  // namespace rf::trace
