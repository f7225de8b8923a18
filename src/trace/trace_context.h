#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): trace and span ids, the
// `traceparent` header (strict parse, format), ids derived from a run, and the sampling decision.
// Pure: no I/O, no allocation except the std::string overloads.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rf::trace {

// 16 bytes, big-endian in its two halves: hi is the first 8 bytes of the hex text.
struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool valid() const { return (hi | lo) != 0; }  // all zero is invalid
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

using SpanId = uint64_t;  // 8 bytes; 0 is invalid

constexpr size_t kTraceIdHex = 32;
constexpr size_t kSpanIdHex = 16;
constexpr size_t kTraceparentSize = 55;  // "00-" + 32 + "-" + 16 + "-" + 2
constexpr uint8_t kSampledFlag = 0x01;

// A parsed `traceparent`: the caller's trace, its span (our root span's parent) and its flags.
struct TraceParent {
  TraceId trace;
  SpanId span = 0;
  uint8_t flags = 0;
  bool valid() const { return trace.valid() && span != 0; }
  bool sampled() const { return (flags & kSampledFlag) != 0; }
  friend bool operator==(const TraceParent&, const TraceParent&) = default;
};

// Parses a `traceparent` value (optional spaces/tabs around it are trimmed). Strict, as the
// specification asks: two lower-case hex digits of version (not "ff"); version 00 is exactly 55
// characters, a higher version at least 55 with '-' after the flags (its extra fields are
// ignored); a 32-digit trace id and a 16-digit parent id in lower-case hex, neither all zero;
// two hex digits of flags. Anything else: nullopt (the header is then ignored, not an error).
std::optional<TraceParent> ParseTraceparent(std::string_view header);

// Writes "00-<trace>-<span>-<flags>" (version 00), exactly kTraceparentSize characters.
void FormatTraceparent(const TraceId& trace, SpanId span, uint8_t flags, char out[kTraceparentSize]);
std::string FormatTraceparent(const TraceId& trace, SpanId span, uint8_t flags);
std::string FormatTraceparent(const TraceParent& p);
void FormatTraceId(const TraceId& id, char out[kTraceIdHex]);
void FormatSpanId(SpanId id, char out[kSpanIdHex]);

// The trace id made of 16 bytes (a run id: its random low bytes make the sampling decision).
TraceId TraceIdFromBytes(std::span<const uint8_t, 16> bytes);

// A span id derived from a trace id and two numbers (splitmix64 over them): the same inputs give
// the same id after a restart without storing it; never 0.
SpanId DeriveSpanId(const TraceId& trace, uint64_t a, uint64_t b);

// Keep the trace? Decided from the trace id alone (its low 56 bits against ratio · 2^56), so
// every span of a trace, on any shard or daemon with the same ratio, gets the same answer.
// ratio <= 0: never; >= 1: always.
bool SampleByTraceId(const TraceId& trace, double ratio);

}  // namespace rf::trace
