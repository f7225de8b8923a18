#include "trace/trace_context.h"

namespace rf::trace {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Lower-case hex only: the specification's HEXDIGLC.
int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseHex64(std::string_view s, uint64_t& out) {
  uint64_t v = 0;
  for (char c : s) {
    const int d = LowerHexValue(c);
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

void WriteHex64(uint64_t v, char* out) {
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 0xf];
    v >>= 4;
  }
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::optional<TraceParent> ParseTraceparent(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.size() < kTraceparentSize) return std::nullopt;
  uint64_t version = 0;
  if (!ParseHex64(h.substr(0, 2), version) || version == 0xff) return std::nullopt;
  if (version == 0 && h.size() != kTraceparentSize) return std::nullopt;
  if (h.size() > kTraceparentSize && h[kTraceparentSize] != '-') return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  TraceParent p;
  uint64_t flags = 0;
  if (!ParseHex64(h.substr(3, 16), p.trace.hi) || !ParseHex64(h.substr(19, 16), p.trace.lo) ||
      !ParseHex64(h.substr(36, 16), p.span) || !ParseHex64(h.substr(53, 2), flags))
    return std::nullopt;
  if (!p.trace.valid() || p.span == 0) return std::nullopt;
  p.flags = static_cast<uint8_t>(flags);
  return p;
}

void FormatTraceId(const TraceId& id, char out[kTraceIdHex]) {
  WriteHex64(id.hi, out);
  WriteHex64(id.lo, out + 16);
}

void FormatSpanId(SpanId id, char out[kSpanIdHex]) { WriteHex64(id, out); }

void FormatTraceparent(const TraceId& trace, SpanId span, uint8_t flags, char out[kTraceparentSize]) {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  FormatTraceId(trace, out + 3);
  out[35] = '-';
  FormatSpanId(span, out + 36);
  out[52] = '-';
  out[53] = kHex[flags >> 4];
  out[54] = kHex[flags & 0xf];
}

std::string FormatTraceparent(const TraceId& trace, SpanId span, uint8_t flags) {
  std::string s(kTraceparentSize, '\0');
  FormatTraceparent(trace, span, flags, s.data());
  return s;
}

std::string FormatTraceparent(const TraceParent& p) { return FormatTraceparent(p.trace, p.span, p.flags); }

TraceId TraceIdFromBytes(std::span<const uint8_t, 16> b) {
  TraceId id;
  for (size_t i = 0; i < 8; ++i) {
    id.hi = id.hi << 8 | b[i];
    id.lo = id.lo << 8 | b[8 + i];
  }
  return id;
}

SpanId DeriveSpanId(const TraceId& trace, uint64_t a, uint64_t b) {
  uint64_t x = SplitMix(trace.hi ^ SplitMix(trace.lo ^ SplitMix(a ^ SplitMix(b))));
  return x ? x : 1;
}

bool SampleByTraceId(const TraceId& trace, double ratio) {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  constexpr uint64_t kMask = (uint64_t{1} << 56) - 1;
  const double bound = ratio * static_cast<double>(uint64_t{1} << 56);
  return static_cast<double>(trace.lo & kMask) < bound;
}

}  // namespace rf::trace
