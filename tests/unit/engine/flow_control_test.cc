// Flow control per key: parsing of a workflow's "concurrency", the key it renders, and the
// queued run's records (created queued, started by Dequeue, replayed the same).

#include "engine/flow_control.h"

#include <doctest/doctest.h>

#include "engine/machine.h"
#include "engine/record.h"
#include "json/parse.h"

using namespace rf::engine;
using rf::json::Value;

namespace {

std::string Wf(std::string_view concurrency) {
  return R"({"name": "w", "concurrency": )" + std::string(concurrency) +
         R"(, "steps": [{"id": "a", "type": "noop"}]})";
}

// The first error's pointer and message, "" when it compiles.
std::pair<std::string, std::string> FirstError(std::string_view concurrency) {
  Compiled c = CompileDefinition("", Wf(concurrency), 1);
  if (c.errors.empty()) return {};
  return {c.errors[0].pointer, c.errors[0].message};
}

Value J(std::string_view text) { return *rf::json::Parse(text); }

}  // namespace

TEST_CASE("concurrency: a key template and a limit") {
  Compiled c = CompileDefinition("", Wf(R"({"key": "{{input.customer}}", "limit": 5})"), 1);
  REQUIRE(c.errors.empty());
  REQUIRE(c.def->concurrency.has_value());
  CHECK(c.def->concurrency->limit == 5);
  CHECK(FlowKey(*c.def, J(R"({"customer": "acme"})")) == "acme");
  CHECK(FlowKey(*c.def, J(R"({"customer": 42})")) == "42");
  CHECK(FlowKey(*c.def, J(R"({})")) == "");  // missing: the empty key, one gate for all of them
  // Text around a reference is kept; every run of one key meets in one partition.
  Compiled t = CompileDefinition("", Wf(R"({"key": "c-{{input.c}}-{{input.r}}", "limit": 1})"), 1);
  REQUIRE(t.errors.empty());
  CHECK(FlowKey(*t.def, J(R"({"c": "x", "r": "eu"})")) == "c-x-eu");
  CHECK(FlowPartition("w", "a") == FlowPartition("w", "a"));
  CHECK(FlowGateId("w", "a") == "w\na");
}

TEST_CASE("concurrency: a rendered key is cut at 256 bytes on a character boundary") {
  Compiled c = CompileDefinition("", Wf(R"({"key": "{{input.k}}", "limit": 1})"), 1);
  REQUIRE(c.errors.empty());
  std::string long_key(255, 'a');
  long_key += "\xc3\xa9\xc3\xa9";  // é é: the first straddles byte 256
  std::string key = FlowKey(*c.def, Value(rf::json::Object{{"k", long_key}}));
  CHECK(key == std::string(255, 'a'));
}

TEST_CASE("concurrency: every mistake at its pointer") {
  CHECK(FirstError(R"(5)").first == "/concurrency");
  CHECK(FirstError(R"({"limit": 5})") ==
        std::pair<std::string, std::string>{"/concurrency/key", "concurrency requires 'key', e.g. \"{{input.customer}}\""});
  CHECK(FirstError(R"({"key": "{{input.c}}"})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "", "limit": 1})").first == "/concurrency/key");
  CHECK(FirstError(R"({"key": 7, "limit": 1})").first == "/concurrency/key");
  CHECK(FirstError(R"({"key": "{{inptu.c}}", "limit": 1})").first == "/concurrency/key");
  CHECK(FirstError(R"({"key": "{{input.c", "limit": 1})").first == "/concurrency/key");
  CHECK(FirstError(R"({"key": "{{steps.a.output}}", "limit": 1})").first == "/concurrency/key");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": 0})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": -3})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": 1.5})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": "5"})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": 1000001})").first == "/concurrency/limit");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": 1, "limt": 2})").first == "/concurrency/limt");
  CHECK(FirstError(R"({"key": "{{input.c}}", "limit": 1000000})").first.empty());
}

TEST_CASE("a queued run starts no step until Dequeue, and replays to the same state") {
  Compiled c = CompileDefinition("", Wf(R"({"key": "{{input.c}}", "limit": 1})"), 1);
  REQUIRE(c.errors.empty());
  Run run;
  run.def = c.def;
  std::vector<Record> records;
  std::vector<Event> events;
  const std::string key = "acme";
  Machine m = Machine::Create(run, NewRunId(3, 1000), J(R"({"c": "acme"})"), Priority::kDefault, "",
                              1000, records, &events, {}, {}, &key);
  CHECK(run.status == RunStatus::kQueued);
  CHECK(m.effects().execute.empty());
  REQUIRE(records.size() == 2);
  CHECK(records[1].type == RecordType::kRunQueued);
  CHECK(events.back().type == "run.queued");
  CHECK(!IsTerminal(RunStatus::kQueued));
  CHECK(RunStatusName(RunStatus::kQueued) == "queued");
  RunStatus parsed;
  CHECK(ParseRunStatus("queued", parsed));
  CHECK(parsed == RunStatus::kQueued);

  Machine again(run, 1500, records, &events);
  again.Recover();
  CHECK(again.effects().execute.empty());  // recovery leaves a queued run queued

  Machine d(run, 2000, records, &events);
  REQUIRE(d.Dequeue());
  CHECK(events[events.size() - 2].type == "run.dequeued");
  CHECK(d.effects().execute.size() == 1);  // its root step starts
  CHECK(run.status == RunStatus::kRunning);
  Machine twice(run, 2001, records, &events);
  CHECK(!twice.Dequeue());

  // Encoded and replayed: the same states.
  Run replayed;
  replayed.def = c.def;
  for (size_t i = 0; i < records.size(); ++i) {
    auto r = DecodeRecord(EncodeRecord(records[i], &run));
    REQUIRE(r);
    Apply(replayed, *r, nullptr);
    if (i == 1) CHECK(replayed.status == RunStatus::kQueued);
  }
  CHECK(replayed.status == run.status);
}

TEST_CASE("a queued run can be cancelled") {
  Compiled c = CompileDefinition("", Wf(R"({"key": "{{input.c}}", "limit": 1})"), 1);
  Run run;
  run.def = c.def;
  std::vector<Record> records;
  const std::string key = "k";
  Machine::Create(run, NewRunId(3, 1000), J("{}"), Priority::kDefault, "", 1000, records, nullptr, {}, {}, &key);
  Machine m(run, 1100, records, nullptr);
  REQUIRE(m.Cancel());
  CHECK(run.status == RunStatus::kCancelled);
  Machine d(run, 1200, records, nullptr);
  CHECK(!d.Dequeue());
}

TEST_CASE("rate_limit: parsing, defaults and mistakes at their pointers") {
  auto wf = [](std::string_view extra) {
    return R"({"name": "w", )" + std::string(extra) + R"(, "steps": [{"id": "a", "type": "noop"}]})";
  };
  Compiled c = CompileDefinition("", wf(R"("rate_limit": {"key": "{{input.c}}", "per_second": 2.5})"), 1);
  REQUIRE(c.errors.empty());
  REQUIRE(c.def->rate_limit.has_value());
  CHECK(c.def->rate_limit->per_second == 2.5);
  CHECK(c.def->rate_limit->burst == 1);
  CHECK(c.def->flow_controlled());
  CHECK(!c.def->concurrency.has_value());
  CHECK(FlowKey(*c.def, J(R"({"c": "x"})")) == "x");
  Compiled both = CompileDefinition(
      "", wf(R"("rate_limit": {"key": "{{input.c}}", "per_second": 1, "burst": 5},
               "concurrency": {"key": "{{input.c}}", "limit": 2})"), 1);
  REQUIRE(both.errors.empty());
  CHECK(both.def->rate_limit->burst == 5);
  auto first = [&](std::string_view extra) {
    Compiled x = CompileDefinition("", wf(extra), 1);
    return x.errors.empty() ? std::string() : x.errors[0].pointer;
  };
  CHECK(first(R"("rate_limit": [])") == "/rate_limit");
  CHECK(first(R"("rate_limit": {"per_second": 1})") == "/rate_limit/key");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}"})") == "/rate_limit/per_second");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}", "per_second": 0})") == "/rate_limit/per_second");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}", "per_second": "1"})") == "/rate_limit/per_second");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}", "per_second": 1, "burst": 0})") == "/rate_limit/burst");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}", "per_second": 1, "x": 0})") == "/rate_limit/x");
  CHECK(first(R"("rate_limit": {"key": "{{input.c}}", "per_second": 1},
                 "concurrency": {"key": "{{input.d}}", "limit": 1})") == "/rate_limit/key");
}

TEST_CASE("debounce: parsing and mistakes at their pointers") {
  auto wf = [](std::string_view extra) {
    return R"({"name": "w", )" + std::string(extra) + R"(, "steps": [{"id": "a", "type": "noop"}]})";
  };
  Compiled c = CompileDefinition("", wf(R"("debounce": {"key": "{{input.c}}", "ms": 250})"), 1);
  REQUIRE(c.errors.empty());
  REQUIRE(c.def->debounce.has_value());
  CHECK(c.def->debounce->ms == 250);
  CHECK(c.def->flow_controlled());
  CHECK(FlowKey(*c.def, J(R"({"c": "k"})")) == "k");
  auto first = [&](std::string_view extra) {
    Compiled x = CompileDefinition("", wf(extra), 1);
    return x.errors.empty() ? std::string() : x.errors[0].pointer;
  };
  CHECK(first(R"("debounce": 5)") == "/debounce");
  CHECK(first(R"("debounce": {"ms": 5})") == "/debounce/key");
  CHECK(first(R"("debounce": {"key": "{{input.c}}"})") == "/debounce/ms");
  CHECK(first(R"("debounce": {"key": "{{input.c}}", "ms": 0})") == "/debounce/ms");
  CHECK(first(R"("debounce": {"key": "{{input.c}}", "ms": 86400001})") == "/debounce/ms");
  CHECK(first(R"("debounce": {"key": "{{input.c}}", "ms": 5, "y": 1})") == "/debounce/y");
  CHECK(first(R"("debounce": {"key": "{{input.c}}", "ms": 5}, "rate_limit": {"key": "{{input.c}}", "per_second": 1})") ==
        "/debounce");
}

TEST_CASE("a cancel carries its reason") {
  Compiled c = CompileDefinition("", Wf(R"({"key": "{{input.c}}", "limit": 1})"), 1);
  Run run;
  run.def = c.def;
  std::vector<Record> records;
  const std::string key = "k";
  Machine::Create(run, NewRunId(3, 1000), J("{}"), Priority::kDefault, "", 1000, records, nullptr, {}, {}, &key);
  Machine m(run, 1100, records, nullptr);
  REQUIRE(m.Cancel("debounced: a later start (x) replaced it"));
  CHECK(run.error == "debounced: a later start (x) replaced it");
}
