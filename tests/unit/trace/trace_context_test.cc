#include "trace/trace_context.h"

#include <doctest/doctest.h>

#include <string>

using namespace rf::trace;

namespace {
constexpr const char* kValid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
}

TEST_SUITE("trace.trace_context") {
  TEST_CASE("a valid traceparent parses into its trace id, parent id and flags") {
    auto p = ParseTraceparent(kValid);
    REQUIRE(p.has_value());
    CHECK(p->trace.hi == 0x0af7651916cd43ddULL);
    CHECK(p->trace.lo == 0x8448eb211c80319cULL);
    CHECK(p->span == 0xb7ad6b7169203331ULL);
    CHECK(p->flags == 1);
    CHECK(p->sampled());
    CHECK(FormatTraceparent(*p) == kValid);
  }

  TEST_CASE("spaces and tabs around the value are ignored, flags other than sampled are kept") {
    auto p = ParseTraceparent(" \t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 ");
    REQUIRE(p.has_value());
    CHECK_FALSE(p->sampled());
    auto q = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
    REQUIRE(q.has_value());
    CHECK(q->flags == 3);
  }

  TEST_CASE("a higher version may carry more fields after the flags; version 00 may not") {
    CHECK(ParseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes-next").has_value());
    CHECK(ParseTraceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").has_value());
    CHECK_FALSE(ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x").has_value());
    CHECK_FALSE(ParseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x").has_value());
  }

  TEST_CASE("every malformed traceparent is refused") {
    const char* bad[] = {
        "",
        "00",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // version ff is invalid
        "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // short version
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",    // trace id 31 digits
        "00-0af7651916cd43dd8448eb211c80319cc-b7ad6b716920333-01",   // misplaced dash
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",    // parent id 15 digits
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   // upper-case hex
        "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",   // upper-case hex
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",   // all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   // all-zero parent id
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",   // not hex
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // separator
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",    // short flags
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",   // flags not hex
        "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   // version not hex
    };
    for (const char* h : bad) {
      INFO(h);
      CHECK_FALSE(ParseTraceparent(h).has_value());
    }
  }

  TEST_CASE("a trace id made of a run id's bytes reads them big-endian") {
    const uint8_t b[16] = {0x01, 0x8c, 0, 0, 0, 0, 0, 0x07, 0x80, 0, 0, 0, 0, 0, 0x12, 0x34};
    TraceId id = TraceIdFromBytes(std::span<const uint8_t, 16>(b, 16));
    char hex[kTraceIdHex];
    FormatTraceId(id, hex);
    CHECK(std::string(hex, sizeof hex) == "018c000000000007800000000000" "1234");
  }

  TEST_CASE("derived span ids are stable, distinct for distinct inputs, and never zero") {
    TraceId t{1, 2};
    CHECK(DeriveSpanId(t, 1, 1) == DeriveSpanId(t, 1, 1));
    CHECK(DeriveSpanId(t, 1, 1) != DeriveSpanId(t, 1, 2));
    CHECK(DeriveSpanId(t, 1, 1) != DeriveSpanId(t, 2, 1));
    CHECK(DeriveSpanId(t, 1, 1) != DeriveSpanId(TraceId{1, 3}, 1, 1));
    for (uint64_t i = 0; i < 1000; ++i) CHECK(DeriveSpanId(TraceId{i, i}, i, i) != 0);
  }

  TEST_CASE("sampling keeps every trace at 1, none at 0, and about the ratio in between") {
    size_t kept = 0;
    for (uint64_t i = 0; i < 10000; ++i) {
      TraceId t{i, DeriveSpanId(TraceId{7, i}, i, 0)};  // well-spread low bits
      CHECK(SampleByTraceId(t, 1.0));
      CHECK_FALSE(SampleByTraceId(t, 0.0));
      kept += SampleByTraceId(t, 0.25) ? 1 : 0;
      // The decision depends on the trace id only: the same id, the same answer.
      CHECK(SampleByTraceId(t, 0.25) == SampleByTraceId(TraceId{t.hi, t.lo}, 0.25));
    }
    CHECK(kept > 2200);
    CHECK(kept < 2800);
  }
}
