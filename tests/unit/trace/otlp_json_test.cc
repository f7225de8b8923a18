#include "trace/otlp_json.h"

#include <doctest/doctest.h>

#include <string>

#include "json/parse.h"

using namespace rf::trace;
using rf::Buffer;

namespace {

void Fill(Span& s, SpanId id, SpanId parent, std::string name) {
  s.trace = TraceId{0x0af7651916cd43ddULL, 0x8448eb211c80319cULL};
  s.id = id;
  s.parent = parent;
  s.kind = parent ? SpanKind::kClient : SpanKind::kServer;
  s.name = std::move(name);
  s.start_unix_ns = 1'700'000'000'000'000'000;
  s.end_unix_ns = 1'700'000'000'250'000'000;
  s.status = parent ? SpanStatus::kError : SpanStatus::kOk;
  s.status_message = parent ? "HTTP 503 \"busy\"" : "";
  s.run_id = "018c0000-0000-7000-8000-000000001234";
  s.workflow = "billing/invoice";
  s.step_id = parent ? "charge" : "";
  s.attempt = parent ? 2 : 0;
  s.outcome = parent ? "retrying" : "succeeded";
}

const rf::json::Value* Attr(const rf::json::Value& span, std::string_view key) {
  for (const auto& a : span.Find("attributes")->as_array())
    if (a.Find("key")->as_string() == key) return a.Find("value");
  return nullptr;
}

}  // namespace

TEST_SUITE("trace.otlp_json") {
  TEST_CASE("an export request carries the resource, hex ids, string times and the attributes") {
    SpanBuffer spans(4);
    Fill(*spans.Claim(), 0x1111111111111111ULL, 0, "run billing/invoice");
    Fill(*spans.Claim(), 0x2222222222222222ULL, 0x1111111111111111ULL, "step charge");
    Buffer out;
    EncodeOtlpJson(spans, 2, "ringflow-test", "1.2.3", out);
    auto doc = rf::json::Parse(out.view());
    REQUIRE_MESSAGE(doc.has_value(), std::string(out.view()));
    const auto& rs = doc->Find("resourceSpans")->as_array();
    REQUIRE(rs.size() == 1);
    const auto& res_attrs = rs[0].Find("resource")->Find("attributes")->as_array();
    REQUIRE(res_attrs.size() == 2);
    CHECK(res_attrs[0].Find("key")->as_string() == "service.name");
    CHECK(res_attrs[0].Find("value")->Find("stringValue")->as_string() == "ringflow-test");
    const auto& scope = rs[0].Find("scopeSpans")->as_array()[0];
    CHECK(scope.Find("scope")->Find("name")->as_string() == "ringflow");
    const auto& list = scope.Find("spans")->as_array();
    REQUIRE(list.size() == 2);

    const auto& root = list[0];
    CHECK(root.Find("traceId")->as_string() == "0af7651916cd43dd8448eb211c80319c");
    CHECK(root.Find("spanId")->as_string() == "1111111111111111");
    CHECK(root.Find("parentSpanId") == nullptr);
    CHECK(root.Find("kind")->as_int() == 2);
    CHECK(root.Find("startTimeUnixNano")->as_string() == "1700000000000000000");
    CHECK(root.Find("endTimeUnixNano")->as_string() == "1700000000250000000");
    CHECK(root.Find("status")->Find("code")->as_int() == 1);
    CHECK(root.Find("status")->Find("message") == nullptr);
    CHECK(Attr(root, "step.id") == nullptr);  // empty attributes are left out
    CHECK(Attr(root, "attempt") == nullptr);
    CHECK(Attr(root, "status")->Find("stringValue")->as_string() == "succeeded");

    const auto& step = list[1];
    CHECK(step.Find("parentSpanId")->as_string() == "1111111111111111");
    CHECK(step.Find("name")->as_string() == "step charge");
    CHECK(step.Find("kind")->as_int() == 3);
    CHECK(step.Find("status")->Find("code")->as_int() == 2);
    CHECK(step.Find("status")->Find("message")->as_string() == "HTTP 503 \"busy\"");
    CHECK(Attr(step, "run.id")->Find("stringValue")->as_string() == "018c0000-0000-7000-8000-000000001234");
    CHECK(Attr(step, "workflow")->Find("stringValue")->as_string() == "billing/invoice");
    CHECK(Attr(step, "step.id")->Find("stringValue")->as_string() == "charge");
    CHECK(Attr(step, "attempt")->Find("intValue")->as_string() == "2");
    CHECK(Attr(step, "status")->Find("stringValue")->as_string() == "retrying");
  }

  TEST_CASE("only the first count spans of the ring are encoded, oldest first") {
    SpanBuffer spans(2);
    Fill(*spans.Claim(), 1, 0, "a");
    Fill(*spans.Claim(), 2, 0, "b");
    CHECK(spans.Claim() == nullptr);  // full
    spans.Pop(1);
    Fill(*spans.Claim(), 3, 0, "c");  // wraps around
    Buffer out;
    EncodeOtlpJson(spans, 1, "s", "", out);
    auto doc = rf::json::Parse(out.view());
    REQUIRE(doc.has_value());
    const auto& list = doc->Find("resourceSpans")->as_array()[0].Find("scopeSpans")->as_array()[0].Find("spans")->as_array();
    REQUIRE(list.size() == 1);
    CHECK(list[0].Find("name")->as_string() == "b");
    CHECK(spans.At(1).name == "c");
  }
}
