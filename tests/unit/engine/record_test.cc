#include "engine/record.h"

#include <doctest/doctest.h>

#include <string>

#include "compile_helpers.h"
#include "json/parse.h"
#include "json/value_limits.h"
#include "json/writer.h"
#include "store/embedded/format.h"
#include "store/run_log.h"

using namespace rf::engine;
using rf::Errc;
using rf::json::Array;
using rf::json::Object;
using rf::json::Value;

namespace {

Value Nest(size_t depth) {
  Value v = Value(1);
  for (size_t i = 0; i < depth; ++i) v = Value(Array{std::move(v)});
  return v;
}

Record WithData(Value data, std::string text = {}) {
  Record r;
  r.type = RecordType::kStepSucceeded;
  r.run = NewRunId(3, 1'700'000'000'000);
  r.at_ms = 1'700'000'000'001;
  r.step = 0;
  r.text = std::move(text);
  r.data = std::move(data);
  return r;
}

// A run's creation record: workflow `wf`, version 1.
Record Created(std::string wf) {
  Record r;
  r.type = RecordType::kRunCreated;
  r.run = NewRunId(5, 1'700'000'000'000);
  r.at_ms = 1'700'000'000'000;
  r.workflow = std::move(wf);
  r.version = 1;
  return r;
}

// The record read back, or a failed check.
Record RoundTrip(const Record& r) {
  auto back = DecodeRecord(EncodeRecord(r, nullptr));
  REQUIRE_MESSAGE(back.has_value(), back.error().ToString());
  return *back;
}

}  // namespace

TEST_SUITE("engine.record") {
  TEST_CASE("a record whose data is nested exactly to the live limit reads back") {
    Record back = RoundTrip(WithData(Nest(rf::json::kMaxDepth)));
    CHECK(back.data == Nest(rf::json::kMaxDepth));
    // One over the live limit: refused before it is recorded (CheckValue), yet still readable.
    CHECK(RoundTrip(WithData(Nest(rf::json::kMaxDepth + 1))).data == Nest(rf::json::kMaxDepth + 1));
  }

  TEST_CASE("the decoder's depth bound sits above the envelope of any live record") {
    const size_t room = rf::json::kReplayMaxDepth - rf::json::kRecordEnvelopeDepth;
    CHECK(RoundTrip(WithData(Nest(room))).data == Nest(room));
    auto over = DecodeRecord(EncodeRecord(WithData(Nest(room + 1)), nullptr));
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().code == Errc::kTooDeep);
  }

  TEST_CASE("a record at the size limits encodes within kMaxRecordBytes and reads back") {
    // A value of exactly kMaxValueBytes encoded, and a text of kMaxTextBytes of the byte that
    // escapes the most (a control character, written as \u00XX).
    Value big(std::string(rf::json::kMaxValueBytes - 2, 'x'));
    REQUIRE(rf::json::CheckValue(big).has_value());
    Record r = WithData(big, std::string(rf::json::kMaxTextBytes, '\x01'));
    r.type = RecordType::kRunCreated;
    r.workflow = std::string(128, 'w');
    r.version = INT64_MAX;
    r.due_ms = INT64_MIN;
    r.priority = Priority::kCritical;
    const std::string encoded = EncodeRecord(r, nullptr);
    CHECK(encoded.size() <= rf::json::kMaxRecordBytes);
    CHECK(rf::json::kMaxRecordBytes <= rf::store::embedded::kMaxRecordPayload);
    Record back = RoundTrip(r);
    CHECK(back.data == big);
    CHECK(back.text == r.text);
  }

  TEST_CASE("hostile strings and numbers read back: surrogates, invalid UTF-8, huge numbers") {
    // From JSON text (the API): a surrogate pair is fine, a lone one never gets in.
    auto pair = rf::json::Parse(R"("\ud83d\ude00")");
    REQUIRE(pair.has_value());
    CHECK(RoundTrip(WithData(*pair)).data == *pair);
    CHECK_FALSE(rf::json::Parse(R"("\ud800")").has_value());
    CHECK_FALSE(rf::json::Parse("1e400").has_value());
    auto huge = rf::json::Parse("[123456789012345678901234567890,-1e308,5e-324]");
    REQUIRE(huge.has_value());
    CHECK(RoundTrip(WithData(*huge)).data == *huge);
    // From a non-JSON source (bytes of a lone surrogate, stray bytes): the record still reads
    // back, with U+FFFD where the bytes were not UTF-8.
    Record r = WithData(Object{{"k\xed\xa0\x80", Value(std::string("a\xff"))}}, "err \xfe");
    Record back = RoundTrip(r);
    CHECK(back.data == Value(Object{{"k\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "a\xef\xbf\xbd"}}));
    CHECK(back.text == "err \xef\xbf\xbd");
  }

  TEST_CASE("the run id of a record the decoder refuses is recovered from its envelope") {
    Record r = WithData(Value("x"));
    std::string encoded = EncodeRecord(r, nullptr);
    encoded.back() = ',';  // no longer JSON
    CHECK_FALSE(DecodeRecord(encoded).has_value());
    auto id = PeekRunId(encoded);
    REQUIRE(id.has_value());
    CHECK(*id == r.run);
    CHECK_FALSE(PeekRunId(R"({"t":3,"rux":"01a23ca6-9c53-7001-8433-928f6e9f5b24"})").has_value());
    CHECK_FALSE(PeekRunId("garbage").has_value());
  }
}

TEST_SUITE("engine.record") {
  TEST_CASE("a creation record keeps the caller's traceparent across encode and decode") {
    Record r = Created("wf");
    auto tp = rf::trace::ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    REQUIRE(tp.has_value());
    r.trace_parent = *tp;
    const std::string bytes = EncodeRecord(r, nullptr);
    CHECK(bytes.find("\"tp\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"") != std::string::npos);
    Record back = RoundTrip(r);
    CHECK(back.trace_parent == *tp);
    // Without a caller context nothing is written (the run id is the trace id).
    r.trace_parent = {};
    CHECK(EncodeRecord(r, nullptr).find("\"tp\"") == std::string::npos);
    CHECK_FALSE(RoundTrip(r).trace_parent.valid());
  }

  TEST_CASE("a stored traceparent that does not parse reads as none instead of failing the record") {
    Record r;
    r.type = RecordType::kRunCreated;
    r.run = NewRunId(5, 1'700'000'000'000);
    r.workflow = "wf";
    std::string bytes = EncodeRecord(r, nullptr);
    bytes.insert(bytes.size() - 1, ",\"tp\":\"00-zz\"");
    auto back = DecodeRecord(bytes);
    REQUIRE(back.has_value());
    CHECK_FALSE(back->trace_parent.valid());
  }

  TEST_CASE("a run rebuilt from its log alone takes its definition from the creation record") {
    auto def = rf::engine::test::Def(
        R"({"steps":[{"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]}]})");
    Record created = Created("w");
    created.data = Value(Object{{"n", Value(1)}});
    std::string log;
    rf::store::AppendToLog(log, EncodeRecord(created, nullptr));

    int calls = 0;
    auto run = RebuildRun(log, [&](const Record& first) -> rf::Result<std::shared_ptr<const Definition>> {
      ++calls;
      CHECK(first.workflow == "w");
      CHECK(first.version == 1);
      return def;
    });
    REQUIRE_MESSAGE(run.has_value(), run.error().ToString());
    CHECK(calls == 1);
    CHECK(run->steps.size() == 2);
    auto given = RebuildRun(def, log);
    REQUIRE(given.has_value());
    CHECK(given->status == run->status);
    CHECK(given->steps.size() == run->steps.size());

    // The caller's refusal is the answer.
    auto refused = RebuildRun(log, [](const Record&) -> rf::Result<std::shared_ptr<const Definition>> {
      return rf::Error{Errc::kNotFound, "no such version"};
    });
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Errc::kNotFound);

    // A log that does not start with the run's creation, or is empty, is corrupt, and no
    // definition is asked for.
    std::string headless;
    rf::store::AppendToLog(headless, EncodeRecord(WithData(Value(1)), nullptr));
    calls = 0;
    auto never = [&](const Record&) -> rf::Result<std::shared_ptr<const Definition>> {
      ++calls;
      return def;
    };
    auto cut = RebuildRun(headless, never);
    REQUIRE_FALSE(cut.has_value());
    CHECK(cut.error().code == Errc::kCorrupt);
    auto empty = RebuildRun(std::string_view(), never);
    REQUIRE_FALSE(empty.has_value());
    CHECK(empty.error().code == Errc::kCorrupt);
    CHECK(calls == 0);
  }
}
