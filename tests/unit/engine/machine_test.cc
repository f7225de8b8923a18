#include "engine/machine.h"

#include <doctest/doctest.h>

#include "json/parse.h"
#include "json/value_limits.h"
#include "json/writer.h"

using namespace rf::engine;
using rf::json::Value;

namespace {

std::shared_ptr<const Definition> Def(std::string_view text) {
  Compiled c = CompileDefinition("", text, 1);
  if (!c.errors.empty()) FAIL("definition: " << c.errors[0].pointer << " " << c.errors[0].message);
  return c.def;
}

Value J(std::string_view text) { return *rf::json::Parse(text); }

// A run plus everything it recorded, replayable into a fresh run.
struct Harness {
  explicit Harness(std::shared_ptr<const Definition> def, Value input = Value(rf::json::Object{}),
                   int64_t now = 1000) {
    run.def = def;
    last = Machine::Create(run, NewRunId(7, now), std::move(input), Priority::kDefault, "", now,
                           records, &events)
               .effects();
  }
  uint32_t Step(std::string_view id) const { return run.def->FindStep(id)->index; }
  size_t Attempts(std::string_view id) const { return run.steps[Step(id)].attempts.size(); }
  StepStatus Status(std::string_view id) const { return run.steps[Step(id)].status; }
  std::vector<uint32_t> Ids(std::initializer_list<const char*> ids) const {
    std::vector<uint32_t> v;
    for (const char* id : ids) v.push_back(Step(id));
    return v;
  }
  Machine At(int64_t now) { return Machine(run, now, records, &events); }
  void Succeed(std::string_view id, Value out = Value(), int64_t now = 2000) {
    Machine m = At(now);
    m.StepSucceeded(Step(id), Attempts(id), std::move(out));
    last = m.effects();
  }
  void Fail(std::string_view id, bool retryable, int64_t now = 2000) {
    Machine m = At(now);
    m.StepFailed(Step(id), Attempts(id), "boom", retryable, 0.5);
    last = m.effects();
  }
  void Fire(std::string_view id, int64_t now) {
    Machine m = At(now);
    m.TimerFired({id.empty() ? kNoStep : Step(id), now});
    last = m.effects();
  }

  Run run;
  std::vector<Record> records;
  std::vector<Event> events;
  Effects last;
};

constexpr std::string_view kW3 = R"({"name":"w3","steps":[
  {"id":"a","type":"noop"},{"id":"b","type":"noop","depends_on":["a"]},
  {"id":"c","type":"noop","depends_on":["b"]}]})";

}  // namespace

TEST_SUITE("engine.machine") {
TEST_CASE("a sequential run starts each step only after the previous one succeeded") {
  Harness h(Def(kW3), J(R"({"x":1})"));
  CHECK(h.last.execute == h.Ids({"a"}));
  CHECK(h.run.status == RunStatus::kRunning);
  h.Succeed("a", J("1"));
  CHECK(h.last.execute == h.Ids({"b"}));
  h.Succeed("b", J("2"));
  h.Succeed("c", J("3"));
  CHECK(h.run.status == RunStatus::kSucceeded);
  CHECK(h.run.output == J(R"({"c":3})"));
  CHECK(h.events.back().type == "run.succeeded");
}

TEST_CASE("fan-out starts every branch and fan-in waits for all of them") {
  Harness h(Def(R"({"name":"f","steps":[{"id":"a","type":"noop"},
    {"id":"b","type":"noop","depends_on":["a"]},{"id":"c","type":"noop","depends_on":["a"]},
    {"id":"d","type":"noop","depends_on":["b","c"]}]})"));
  h.Succeed("a");
  CHECK(h.last.execute == h.Ids({"b", "c"}));
  h.Succeed("b", J("10"));
  CHECK(h.last.execute.empty());
  h.Succeed("c", J("20"));
  CHECK(h.last.execute == h.Ids({"d"}));
  Machine m = h.At(3000);
  CHECK(m.StepInput(h.Step("d")) == J(R"({"b":10,"c":20})"));
}

TEST_CASE("a false when skips the step and its dependents still run") {
  Harness h(Def(R"({"name":"w","steps":[{"id":"a","type":"noop"},
    {"id":"b","type":"noop","depends_on":["a"],"when":"{{input.go}} == true"},
    {"id":"c","type":"noop","depends_on":["b"]}]})"),
            J(R"({"go":false})"));
  h.Succeed("a");
  CHECK(h.Status("b") == StepStatus::kSkipped);
  CHECK(h.last.execute == h.Ids({"c"}));
}

TEST_CASE("a retryable failure waits for a durable timer and records every attempt") {
  Harness h(Def(R"({"name":"r","retry":{"max_attempts":3,"initial_ms":100,"jitter":0},
    "steps":[{"id":"a","type":"noop"}]})"));
  h.Fail("a", true, 2000);
  CHECK(h.Status("a") == StepStatus::kRetrying);
  REQUIRE(h.last.timers.size() == 1);
  CHECK(h.last.timers[0].due_ms == 2100);
  h.Fire("a", 2050);  // early: nothing happens
  CHECK(h.Status("a") == StepStatus::kRetrying);
  h.Fire("a", 2100);
  CHECK(h.last.execute == h.Ids({"a"}));
  CHECK(h.Attempts("a") == 2);
  h.Fail("a", true, 2200);
  h.Fire("a", 2400);
  h.Fail("a", true, 2500);  // third attempt: exhausted
  CHECK(h.run.status == RunStatus::kFailed);
  CHECK(h.run.failed_step == "a");
  CHECK(h.Attempts("a") == 3);
}

TEST_CASE("a non-retryable failure fails the run and aborts steps in flight") {
  Harness h(Def(R"({"name":"p","steps":[{"id":"a","type":"noop"},{"id":"b","type":"noop"},
    {"id":"c","type":"noop","depends_on":["a","b"]}]})"));
  h.Fail("a", false);
  CHECK(h.run.status == RunStatus::kFailed);
  CHECK(h.last.abort == h.Ids({"b"}));
  CHECK(h.Status("c") == StepStatus::kCancelled);
  h.Succeed("b");  // a late result of an aborted step changes nothing
  CHECK(h.Status("b") == StepStatus::kCancelled);
}

TEST_CASE("a delay waits on a timer and the run reports waiting meanwhile") {
  Harness h(Def(R"({"name":"d","steps":[{"id":"wait","type":"delay","ms":500},
    {"id":"b","type":"noop","depends_on":["wait"]}]})"),
            Value(rf::json::Object{}), 1000);
  CHECK(h.run.status == RunStatus::kWaiting);
  REQUIRE(h.last.timers.size() == 1);
  CHECK(h.last.timers[0].due_ms == 1500);
  h.Fire("wait", 1500);
  CHECK(h.Status("wait") == StepStatus::kSucceeded);
  CHECK(h.last.execute == h.Ids({"b"}));
}

TEST_CASE("an approval completes with the signal payload and refuses a second signal") {
  Harness h(Def(R"({"name":"a","steps":[{"id":"approve","type":"approval"},
    {"id":"b","type":"noop","depends_on":["approve"]}]})"));
  CHECK(h.run.status == RunStatus::kWaiting);
  {
    Machine m = h.At(2000);
    CHECK(m.Signal("nope", Value()).error().code == rf::Errc::kNotFound);
    REQUIRE(m.Signal("approve", J(R"({"ok":true})")).has_value());
    CHECK(m.effects().execute == h.Ids({"b"}));
  }
  CHECK(h.run.steps[h.Step("approve")].output == J(R"({"ok":true})"));
  Machine again = h.At(2100);
  CHECK(again.Signal("approve", Value()).error().code == rf::Errc::kConflict);
}

TEST_CASE("an approval that is not signalled in time fails the run") {
  Harness h(Def(R"({"name":"a","steps":[{"id":"approve","type":"approval","timeout_ms":1000}]})"),
            Value(rf::json::Object{}), 1000);
  h.Fire("approve", 2000);
  CHECK(h.run.status == RunStatus::kFailed);
  CHECK(h.run.error.find("approval timed out") != std::string::npos);
}

TEST_CASE("cancel aborts running steps and a second cancel conflicts") {
  Harness h(Def(kW3));
  Machine m = h.At(2000);
  REQUIRE(m.Cancel().has_value());
  CHECK(m.effects().abort == h.Ids({"a"}));
  CHECK(h.run.status == RunStatus::kCancelled);
  CHECK(h.events.back().type == "run.cancelled");
  CHECK(h.At(2100).Cancel().error().code == rf::Errc::kConflict);
}

TEST_CASE("resume restarts a failed run from its failed step") {
  Harness h(Def(kW3));
  h.Succeed("a");
  h.Fail("b", false);
  REQUIRE(h.run.status == RunStatus::kFailed);
  Machine m = h.At(3000);
  REQUIRE(m.Resume().has_value());
  CHECK(m.effects().execute == h.Ids({"b"}));
  CHECK(h.Attempts("b") == 2);
  CHECK(h.Status("a") == StepStatus::kSucceeded);  // not run again
  CHECK(h.At(3100).Resume().error().code == rf::Errc::kConflict);
}

TEST_CASE("the run timeout fails a run that is still going") {
  Harness h(Def(R"({"name":"t","timeout_ms":1000,"steps":[{"id":"a","type":"noop"}]})"),
            Value(rf::json::Object{}), 1000);
  h.Fire("", 1999);
  CHECK(h.run.status == RunStatus::kRunning);
  h.Fire("", 2000);
  CHECK(h.run.status == RunStatus::kFailed);
  CHECK(h.run.error == "run timed out");
}

TEST_CASE("a stale result from an earlier attempt is ignored") {
  Harness h(Def(R"({"name":"r","retry":{"jitter":0},"steps":[{"id":"a","type":"noop"}]})"));
  h.Fail("a", true, 2000);
  h.Fire("a", 5000);
  Machine m = h.At(5100);
  m.StepSucceeded(h.Step("a"), 1, Value());  // attempt 1's late answer
  CHECK(h.Status("a") == StepStatus::kRunning);
}

TEST_CASE("replaying the encoded records rebuilds the same run and events") {
  Harness h(Def(R"({"name":"x","steps":[{"id":"a","type":"noop"},
    {"id":"b","type":"delay","ms":10,"depends_on":["a"]},{"id":"c","type":"noop","depends_on":["b"]}]})"),
            J(R"({"k":"v"})"));
  h.Succeed("a", J(R"({"n":1})"));
  h.Fire("b", 100000);
  h.Fail("c", true, 100001);
  Run copy;
  copy.def = h.run.def;
  std::vector<Event> events;
  for (const Record& r : h.records) {
    auto decoded = DecodeRecord(EncodeRecord(r, &h.run));
    REQUIRE(decoded.has_value());
    Apply(copy, *decoded, &events);
  }
  CHECK(RunJson(copy) == RunJson(h.run));
  REQUIRE(events.size() == h.events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == h.events[i].seq);
    CHECK(events[i].type == h.events[i].type);
  }
}

TEST_CASE("recovery records a new attempt for a step that was running at the crash") {
  Harness h(Def(kW3));
  h.Succeed("a");
  REQUIRE(h.Status("b") == StepStatus::kRunning);
  Machine m = h.At(9000);
  m.Recover();
  CHECK(h.Status("b") == StepStatus::kRetrying);
  CHECK(h.Attempts("b") == 1);
  REQUIRE(m.effects().timers.size() == 1);
  h.Fire("b", m.effects().timers[0].due_ms);
  CHECK(h.Attempts("b") == 2);
  CHECK(h.last.execute == h.Ids({"b"}));
}

TEST_CASE("record texts are made valid UTF-8 and bounded, so a replay reads the same run") {
  Harness h(Def(kW3));
  Machine m = h.At(2000);
  std::string error = "server said \xff\xfe " + std::string(64 << 10, 'e');
  m.StepFailed(h.Step("a"), 1, error, false, 0.5);
  const std::string& text = h.run.steps[h.Step("a")].error;
  CHECK(text.size() <= rf::json::kMaxTextBytes);
  CHECK(text.starts_with("server said \xef\xbf\xbd\xef\xbf\xbd "));
  Run copy;
  copy.def = h.run.def;
  for (const Record& r : h.records) {
    auto decoded = DecodeRecord(EncodeRecord(r, &h.run));
    REQUIRE(decoded.has_value());
    Apply(copy, *decoded, nullptr);
  }
  CHECK(RunJson(copy) == RunJson(h.run));
}

TEST_CASE("an output over the limits fails the attempt: final for a pure step") {
  Harness h(Def(kW3));
  Value deep = Value(1);
  for (size_t i = 0; i <= rf::json::kMaxDepth; ++i) deep = Value(rf::json::Array{deep});
  h.Succeed("a", deep);
  CHECK(h.Status("a") == StepStatus::kFailed);
  CHECK(h.run.steps[h.Step("a")].error == "step output nests deeper than 64");
  CHECK(h.run.status == RunStatus::kFailed);
}

TEST_CASE("corrupt records are refused when decoding") {
  CHECK_FALSE(DecodeRecord("{").has_value());
  CHECK_FALSE(DecodeRecord(R"({"t":99,"run":"x","at":1})").has_value());
  CHECK_FALSE(DecodeRecord(R"({"t":1,"run":"not-a-uuid","at":1})").has_value());
}
}
